"""The data: synthetic event files in the Kaggle schema, and the profile that checks them.

`generate` writes realistic day files (its shape constants live in `generate.Shape`),
`profile` recomputes the published statistics of any event files with DuckDB.
"""
