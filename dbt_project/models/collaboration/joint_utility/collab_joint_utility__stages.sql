-- Task dataset (供水/供电/供气/通信 four providers): each application's completed stages and their durations, one row per (application, stage) (collaboration layer / 协同专题库).
-- A view: read only by its scenario's business dataset, so a table bought nothing but one more dbt node to
-- build every day (README, Incremental builds); the rows are the same whenever it is queried.

{{ config(materialized='view') }}

with apps as (

    select * from {{ ref('theme_utilities__installation') }}

)

{% set stages = [('受理', 1, 'accept_hours'), ('踏勘', 2, 'survey_hours'), ('审批', 3, 'approve_hours'),
                 ('外线施工', 4, 'build_hours'), ('接通', 5, 'connect_hours')] %}
{% for name, order, column in stages %}
select application_id, utility_type, provider, applied_on, '{{ name }}' as stage, {{ order }} as stage_order,
       {{ column }} as hours
from apps
where {{ column }} is not null
{% if not loop.last %}union all{% endif %}
{% endfor %}
