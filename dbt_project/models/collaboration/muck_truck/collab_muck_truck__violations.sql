-- Task dataset (城管局 渣土车 GPS): points breaking a transport rule — outside the night window, over speed, off the map (collaboration layer / 协同专题库).
-- A view: its one reader, collab_muck_truck__truck_day, filters it to the days it recomputes and the filter reaches the
-- GPS scan, so a next-day build computes the new days' violations inline instead of running one more dbt node.

{{ config(materialized='view') }}

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
where outside_window or over_speed or off_map
