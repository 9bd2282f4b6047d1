"""What a production build builds: its `dbt build` arguments, in one place for the Dagster
daily job, `make run` and `make build` (`python -m lakehouse.orchestration.selection` prints
them) and the benchmark's builds.

A production build leaves out of `dbt build` the unit tests and the data tests tagged
`sql_guarantee`. Those tests check what a model's SQL guarantees whatever the data (the key a
view's GROUP BY makes, the windows the feature macro cuts) and each would recompute days of
data on every run; both kinds change only with the SQL, so `make test` (and CI) run them, as
does a plain `dbt build` or `dbt test`.
"""

# the selection dagster-dbt adds to the build: every asset but these
DAILY_EXCLUDE = "tag:sql_guarantee"
DAILY_BUILD = ["build", "--exclude-resource-type", "unit_test"]
DAILY_ARGS = [*DAILY_BUILD, "--exclude", DAILY_EXCLUDE]  # the same build outside Dagster

if __name__ == "__main__":
    print(" ".join(DAILY_ARGS))
