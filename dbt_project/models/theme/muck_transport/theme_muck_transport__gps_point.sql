-- Muck-truck GPS points with compliance flags: outside the night transport window, over the speed limit,
-- position outside the municipality (theme layer / 主题库).
-- A view: one row per standard-layer point plus three flags, so a table would copy the whole GPS history on
-- every build (2.5 s of a 10 M-row next-day build) for two readers that scan it once each.

{{ config(materialized='view') }}

with rules as (

    select
        max(limit_minutes) filter (where item = 'night_window_start')  as window_start_minute,
        max(limit_minutes) filter (where item = 'night_window_end')    as window_end_minute,
        max(limit_minutes) filter (where item = 'speed_limit_kmh')     as speed_limit_kmh
    from {{ ref('service_limits') }}
    where scenario = 'muck_truck'

)

select
    p.device_id,
    p.plate_no,
    p.gps_time,
    p.gps_date,
    p.lng,
    p.lat,
    p.speed_kmh,
    p.site_id,
    p.site_type,
    p.load_state,
    -- the transport window wraps midnight: allowed from window_start (22:00) to window_end (06:00)
    not (hour(p.gps_time) * 60 + minute(p.gps_time) >= r.window_start_minute
         or hour(p.gps_time) * 60 + minute(p.gps_time) < r.window_end_minute)   as outside_window,
    coalesce(p.speed_kmh > r.speed_limit_kmh, false)                            as over_speed,
    not coalesce(p.lng between 105.28 and 110.20 and p.lat between 28.16 and 32.20, false)  as off_map
from {{ ref('stg_cgj__muck_truck_gps') }} as p
cross join rules as r
