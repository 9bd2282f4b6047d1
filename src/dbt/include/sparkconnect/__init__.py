"""Macros of the sparkconnect adapter (dbt loads this folder as the adapter's include path)."""

import os

PACKAGE_PATH = os.path.dirname(__file__)
