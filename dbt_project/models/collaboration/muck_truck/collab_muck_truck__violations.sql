-- Task dataset (城管局 渣土车 GPS): points breaking a transport rule — outside the night window, over speed, off the map (collaboration layer / 协同专题库).
-- Incremental by day (macros/incremental_days.sql): a build recomputes the days its new GPS points fall on.

{{ config(
    materialized='incremental', incremental_strategy='append', on_schema_change='fail',
    pre_hook="{{ cs_replace_days('gps_date', ref('stg_cgj__muck_truck_gps'), 'gps_date') }}",
    post_hook="{{ cs_record_batches(ref('stg_cgj__muck_truck_gps')) }}",
) }}

select
    device_id,
    plate_no,
    gps_time,
    gps_date,
    lng,
    lat,
    speed_kmh,
    site_id,
    load_state,
    outside_window,
    over_speed,
    off_map
from {{ ref('theme_muck_transport__gps_point') }}
where (outside_window or over_speed or off_map)
    and {{ cs_in_new_days('gps_date', ref('stg_cgj__muck_truck_gps'), 'gps_date') }}
