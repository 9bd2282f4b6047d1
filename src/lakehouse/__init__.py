"""Runtime of the e-commerce lakehouse: server life cycle, set-up, and the `lakehouse` CLI.

The dbt adapter plugin that runs Python models over Spark Connect lives beside this package, in
`src/dbt/adapters/sparkconnect`, because dbt finds adapters by their module path.
"""

__version__ = "0.1.0"
