{#-
    Open-source Delta cannot `ALTER COLUMN ... SET NOT NULL` on a column created nullable
    (which `create or replace table ... as select` always does), so dbt-spark's way of
    enforcing a contract's `not_null` fails there. This adapter enforces all not_null
    constraints of a model as one Delta CHECK constraint, `contract_not_null check (a is not
    null and b is not null ...)`: Delta verifies it once when it is added (one scan instead of
    one per column) and on every later write to the table.
-#}
{% macro sparkconnect__alter_column_set_constraints(relation, column_dict) %}
  {% set checks = [] %}
  {% for column_name in column_dict %}
    {% set quoted_name = adapter.quote(column_name) if column_dict[column_name]['quote'] else column_name %}
    {% for constraint in column_dict[column_name]['constraints'] %}
      {% if constraint.type == 'not_null' %}
        {% do checks.append(quoted_name ~ ' is not null') %}
      {% else %}
        {{ exceptions.warn('Invalid constraint for column ' ~ column_name ~ '. Only `not_null` is supported.') }}
      {% endif %}
    {% endfor %}
  {% endfor %}
  {% if checks %}
    {% call statement() %}
      alter table {{ relation }} add constraint contract_not_null check ({{ checks | join(' and ') }})
    {% endcall %}
  {% endif %}
{% endmacro %}
