{#-
    Fails for every loaded landing file whose share of rejected lines is above `max_rate`,
    naming the file: a file that is mostly garbage (a wrong format, a truncated export, the
    wrong columns) must not pass a green build just because its bad lines were quarantined.
    Reads the load audit (brz_file_loads); the rejected lines are in brz_rejected_event_lines.
-#}
{% test reject_rate_at_most(model, max_rate) %}

select
    source_file,
    load_id,
    lines_landed,
    rows_rejected,
    rows_rejected / lines_landed as reject_rate
from {{ model }}
where
    load_status = 'loaded'
    and lines_landed > 0
    and rows_rejected / lines_landed > {{ max_rate }}

{% endtest %}
