-- Task dataset (民政局 sensors → 网格员/志愿者/社区医生): each alert's response, its limit and whether it was met; no personal data (collaboration layer / 协同专题库).
-- A view: read only by its scenario's business dataset, so a table bought nothing but one more dbt node to
-- build every day (README, Incremental builds); the rows are the same whenever it is queried.

{{ config(materialized='view') }}

select
    alert_id,
    alert_type,
    alert_type in ('紧急呼叫', '跌倒检测', '烟雾报警', '燃气泄漏')  as is_urgent,
    elder_id,
    care_level,
    street_code,
    community,
    unit_grid_code,
    alert_time,
    alert_date,
    responder,
    response_limit_minutes,
    response_minutes,
    responded_on_time
from {{ ref('theme_care__alert') }}
