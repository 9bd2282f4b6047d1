"""The platform: settings, the Delta jars, the one-JVM server and the local standalone cluster.

`config` owns every environment variable and default, `jars` resolves the Delta jars into a
cache at set-up, `server` starts and stops the Spark driver that serves Thrift and Spark
Connect, and `cluster` runs a local standalone master with workers for that driver.
"""
