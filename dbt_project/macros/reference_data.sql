{#
  下发参考数据: a seed whose code list was received from a higher instance (cityshare.federation.reference) is loaded
  with that list instead of its own rows, so every model, data test and report reading ref('<seed>') uses it.
  cityshare passes the received lists as var('cs_code_lists') (seed name → CSV path); the seed's column types stay
  (INSERT BY NAME casts the received text). Without a received list the hook does nothing.
#}
{% macro cs_received_code_list(relation) %}
  {%- set path = var('cs_code_lists', {}).get(relation.identifier) -%}
  {%- if path -%}
    delete from {{ relation }};
    insert into {{ relation }} by name
    select * from read_csv('{{ path | replace("'", "''") }}', all_varchar = true, header = true)
  {%- endif -%}
{% endmacro %}
