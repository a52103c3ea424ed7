{#- The GB/T 30428.1 16-digit component (部件) id: 6-digit county + 4-digit class (2 major + 2 minor) + 6-digit
    serial. Serials are allocated per county and class in order of first appearance, then source id, so an id
    never changes when later facilities arrive. A window expression: the rows it numbers are the rows of its query,
    so pass only the facilities of the classes that query owns (base_facilities, base_parking_lots). -#}
{% macro cs_component_id(area_code, class_code, first_seen_on, source_id) -%}
    {{ area_code }} || {{ class_code }} || lpad(cast(row_number() over (
        partition by {{ area_code }}, {{ class_code }}
        order by {{ first_seen_on }} nulls last, {{ source_id }}
    ) as {{ cs_text() }}), 6, '0')
{%- endmacro %}
