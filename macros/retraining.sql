{#-
    Whether this run retrains `registered_model_name`: the `retrained` column of its row in
    ml_retraining_decisions for this run date, asked when the calling model runs (after the
    decision was made in the same invocation). False at parse time and when no row exists;
    true in a unit test, so that the logic it gates can be tested. The ref below is made at
    parse time too: it is the model's dependency on the decisions.
-#}
{% macro retraining_decided(registered_model_name) -%}
    {%- set decisions = ref('ml_retraining_decisions') -%}
    {%- if execute and model.resource_type == 'unit_test' -%}{{ return(true) }}{%- endif -%}
    {%- if not execute or model.resource_type != 'model' -%}{{ return(false) }}{%- endif -%}
    {%- set rows = run_query(
        'select retrained, reason from ' ~ decisions
        ~ " where run_date = date'" ~ var('run_date') ~ "'"
        ~ ' and registered_model_name = ' ~ sql_string(registered_model_name)
    ) -%}
    {%- if rows | length == 0 -%}{{ return(false) }}{%- endif -%}
    {{ log(this.identifier ~ ': ' ~ ('built' if rows[0][0] else 'kept as it is')
           ~ ' for run date ' ~ var('run_date') ~ ' (' ~ rows[0][1] ~ ')', info=true) }}
    {{ return(rows[0][0]) }}
{%- endmacro %}
