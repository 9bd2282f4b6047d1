"""The daily schedule in Dagster; the definitions are in `lakehouse.orchestration.definitions`
(`dagster dev -m lakehouse.orchestration.definitions.definitions`)."""
