"""Errors a user can act on, raised for a data condition the project can name.

A `DataConditionError` stops a node with its message alone: the sparkconnect adapter prints the
message without a traceback (it looks for the `user_facing` attribute), because the message
already says what is wrong (the dates, the files) and which var or command changes it.
"""


class DataConditionError(RuntimeError):
    """The data does not allow what the node was asked to do; the message says why and how to
    change it."""

    user_facing = True
