"""Streaming ingestion: files that arrive in a folder, and the streams that read them.

`arrivals` simulates arriving files (a rename per file, so a stream never sees half of one);
`streams` holds what the streaming dbt Python models return: the typed event stream and the
windowed counts.
"""
