-- noqa: disable=LT02
{#-
    The one parser of landed lines, shared by batch bronze and (through the same var) the
    streaming models: `parse_event_lines('cte', ['line', ...])` selects the listed columns of
    `cte` (which has a `line` column, and `source_file` and `file_modified_at` for the file's
    day), then the typed fields, `event_date` and `reject_reason`, as `var('event_parse')`
    defines them. Two steps: the fields from `f` (the line split on commas), then the date,
    the file's day and the first broken rule from the fields.
-#}
{% macro parse_event_lines(lines, columns) -%}
    {%- set parse = var('event_parse') -%}
    select
        {% for column in columns -%}
        fielded.{{ column }},
        {% endfor -%}
        {% for name in parse['fields'] -%}
        fielded.{{ name }},
        {% endfor -%}
        {{ parse['event_date'] }} as event_date,
        {{ parse['file_day'] }} as file_day,
        {{ event_reject_reason(parse['reject_rules']) }} as reject_reason
    from (
        select
            split_lines.*,
            {% for name, expression in parse['fields'].items() -%}
            {{ expression }} as {{ name }}{{ ',' if not loop.last }}
            {% endfor -%}
        from (
            select
                {{ lines }}.*,
                split({{ lines }}.line, ',', -1) as f,
                {{ known_event_types() }} as known_event_types
            from {{ lines }}
        ) as split_lines
    ) as fielded
{%- endmacro %}


{#- The first rule of `rules` ([[reason, condition], ...]) that a row breaks, or null. -#}
{% macro event_reject_reason(rules) -%}
    case
        {% for reason, condition in rules -%}
        when {{ condition }} then '{{ reason }}'
        {% endfor -%}
    end
{%- endmacro %}


{#- The source's event types (var event_types) as a Spark SQL array literal. -#}
{% macro known_event_types() -%}
    array({{ "'" ~ var('event_types') | join("', '") ~ "'" }})
{%- endmacro %}


{#-
    The reject reasons of var('event_parse'), in rule order, then the two brz_event_lines gives
    before parsing: line_too_long (a line the server's reader skips) and unexpected_header
    (every line of a file with another header), for tests and docs.
-#}
{% macro reject_reasons() -%}
    {{ return(
        var('event_parse')['reject_rules'] | map('first') | list
        + ['line_too_long', 'unexpected_header']
    ) }}
{%- endmacro %}
