-- Task dataset (住建委 桥梁监测): readings above their sensor type's warning threshold, for 城管局/城运中心 follow-up (collaboration layer / 协同专题库).
-- A view: read only by its scenario's business dataset, so a table bought nothing but one more dbt node to
-- build every day (README, Incremental builds); the rows are the same whenever it is queried.

{{ config(materialized='view') }}

select
    bridge_id,
    component_id,
    bridge_name,
    area_code,
    sensor_id,
    sensor_type,
    reading_time,
    reading_date,
    value,
    unit,
    warning_threshold,
    alarm_threshold,
    case when over_alarm then '报警' else '预警' end    as level
from {{ ref('theme_facility_operations__bridge_reading') }}
where over_warning
