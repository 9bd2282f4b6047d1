{#-
    A user's bucket in 0..9999 for the train/test split: the first 8 hex digits of the md5 of
    the id written in decimal, modulo var('split_buckets') (10000). md5 is the same in every engine (Spark, DuckDB,
    Python's hashlib), so a user lands in the same split on every rerun and everywhere.
-#}
{% macro hash_split_bucket(column) -%}
    pmod(cast(conv(substr(md5(cast({{ column }} as string)), 1, 8), 16, 10) as bigint), {{ var('split_buckets') }})
{%- endmacro %}
