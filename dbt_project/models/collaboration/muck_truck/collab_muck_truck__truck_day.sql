-- Scenario dataset 渣土车运行: per truck and day, GPS coverage, sites served and route compliance (collaboration layer / 协同专题库).
-- Incremental by day (macros/incremental_days.sql): a build recomputes the days its new GPS points fall on.

{{ config(
    materialized='incremental', incremental_strategy='append',
    partition_by=cs_partition_by(), on_schema_change='fail',
    pre_hook="{{ cs_replace_days('stat_date', ref('stg_cgj__muck_truck_gps'), 'gps_date') }}",
    post_hook="{{ cs_record_batches(ref('stg_cgj__muck_truck_gps')) }}",
) }}

{#- the days to recompute, evaluated once for both readers below -#}
{%- set new_days = cs_in_new_days('gps_date', ref('stg_cgj__muck_truck_gps'), 'gps_date') %}

with points as (

    select * from {{ ref('theme_muck_transport__gps_point') }}
    where {{ new_days }}

),

violations as (

    select
        device_id,
        gps_date,
        count(*) filter (where outside_window)          as outside_window_points,
        count(*) filter (where over_speed)              as over_speed_points,
        count(*) filter (where off_map)                 as off_map_points,
        count(*)                                        as violation_points
    from {{ ref('collab_muck_truck__violations') }}
    where {{ new_days }}
    group by device_id, gps_date

)

select
    p.device_id,
    p.gps_date                                          as stat_date,
    {{ cs_arg_by('max', 'p.plate_no', 'p.gps_time') }}  as plate_no,
    count(*)::bigint                                    as gps_points,
    min(p.gps_time)                                     as first_point_at,
    max(p.gps_time)                                     as last_point_at,
    count(*) filter (where p.load_state = '重载')::bigint   as loaded_points,
    count(distinct p.site_id)::bigint                   as sites_visited,
    round(max(p.speed_kmh), 1)::double                  as max_speed_kmh,
    coalesce(any_value(v.outside_window_points), 0)::bigint  as outside_window_points,
    coalesce(any_value(v.over_speed_points), 0)::bigint      as over_speed_points,
    coalesce(any_value(v.off_map_points), 0)::bigint         as off_map_points,
    round(100.0 * (count(*) - coalesce(any_value(v.violation_points), 0)) / count(*), 2)::double  as compliance_rate{{ cs_partition_column('p.gps_date') }}
from points as p
left join violations as v
    on v.device_id = p.device_id and v.gps_date = p.gps_date
group by p.device_id, p.gps_date
