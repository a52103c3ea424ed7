{#- GB/T 30428.4 grade of a 0–100 score: A ≥ 90, B 75–90, C 60–75, D 40–60, E < 40; NULL without a score. -#}
{% macro cs_grade(score) -%}
    case
        when {{ score }} is null then null
        when {{ score }} >= 90 then 'A'
        when {{ score }} >= 75 then 'B'
        when {{ score }} >= 60 then 'C'
        when {{ score }} >= 40 then 'D'
        else 'E'
    end
{%- endmacro %}
