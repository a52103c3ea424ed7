-- Task dataset (城管局 城市照明): each fault → its repair, the time limit of its fault type and whether it was met (collaboration layer / 协同专题库).
-- A view: read only by its scenario's business dataset, so a table bought nothing but one more dbt node to
-- build every day (README, Incremental builds); the rows are the same whenever it is queried.

{{ config(materialized='view') }}

select
    fault_id,
    component_id,
    area_code,
    street_code,
    reported_on,
    fault_type,
    reported_at,
    repaired_at,
    is_repaired,
    repair_limit_minutes,
    repair_minutes,
    repaired_on_time
from {{ ref('theme_facility_operations__lamp_fault') }}
