"""Machine learning over Spark Connect, called by the thin dbt Python models.

`connect` holds what every model shares (releasing server-side models, table versions),
`tracking` owns MLflow (store, registry, champion alias), `propensity` the purchase-propensity
search, gate and scoring, and `recommend` ALS, the popularity baseline and their evaluation.
"""
