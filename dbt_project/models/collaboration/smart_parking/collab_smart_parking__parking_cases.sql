-- Task dataset (城管局 + 街道): illegal-parking cases per street and day — 数字城管 0503 机动车乱停放 and street-raised 占道停车 (collaboration layer / 协同专题库).
-- A view: read only by its scenario's business dataset, so a table bought nothing but one more dbt node to
-- build every day (README, Incremental builds); the rows are the same whenever it is queried.

{{ config(materialized='view') }}

select street_code, cast(reported_at as date) as stat_date, '数字城管' as channel, case_id
from {{ ref('theme_city_cases__case') }}
where event_class_code = '0503' and reported_at is not null and street_code is not null

union all

select street_code, raised_on as stat_date, '街道吹哨' as channel, case_id
from {{ ref('theme_street_governance__whistle_case') }}
where category = '占道停车'
