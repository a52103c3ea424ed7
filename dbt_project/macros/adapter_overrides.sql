{#- dbt-duckdb's list_schemas, with the database name unquoted: dbt-core passes it quoted ("warehouse"), so the
    adapter's version matched no schema and every build opened one connection per layer schema to run
    `create schema if not exists` again (≈ 40 ms of each next-day build). Taken before the adapter's by
    adapter.dispatch, as the root project's macro. -#}
{% macro duckdb__list_schemas(database) -%}
  {% set sql %}
    select schema_name
    from system.information_schema.schemata
    {% if database is not none %}
    where lower(catalog_name) = '{{ database | lower | replace('"', '') | replace("'", "''") }}'
    {% endif %}
  {% endset %}
  {{ return(run_query(sql)) }}
{% endmacro %}
