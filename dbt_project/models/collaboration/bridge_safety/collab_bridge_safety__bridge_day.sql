-- Scenario dataset 市政桥梁安全: per bridge and day, monitoring completeness, threshold exceedances and a safety level (collaboration layer / 协同专题库).
-- Integrates the readings (住建委) with the thresholds (seed) and the exceedance task dataset.

with readings as (

    select * from {{ ref('theme_facility_operations__bridge_reading') }}

),

expected as (

    select sensor_type, readings_per_day from {{ ref('bridge_sensor_thresholds') }}

),

per_sensor as (

    select
        r.bridge_id,
        r.reading_date,
        r.sensor_id,
        any_value(e.readings_per_day)                   as expected_readings,
        count(r.value)                                  as valid_readings,
        max(r.value / nullif(r.alarm_threshold, 0))     as max_load_ratio
    from readings as r
    left join expected as e
        on e.sensor_type = r.sensor_type
    group by r.bridge_id, r.reading_date, r.sensor_id

),

exceed as (

    select
        bridge_id,
        reading_date,
        count(*)                                        as warning_readings,
        count(*) filter (where level = '报警')          as alarm_readings
    from {{ ref('collab_bridge_safety__exceedances') }}
    group by bridge_id, reading_date

),

bridges as (

    select bridge_id, any_value(component_id) as component_id, any_value(bridge_name) as bridge_name,
           any_value(area_code) as area_code
    from readings
    group by bridge_id

)

select
    b.bridge_id,
    ps.reading_date                                     as stat_date,
    b.component_id,
    b.bridge_name,
    b.area_code,
    a.area_name,
    count(*)::bigint                                    as sensors,
    sum(ps.valid_readings)::bigint                      as valid_readings,
    sum(ps.expected_readings)::bigint                   as expected_readings,
    round(100.0 * sum(ps.valid_readings) / nullif(sum(ps.expected_readings), 0), 2)::double  as completeness_rate,
    coalesce(any_value(x.warning_readings), 0)::bigint  as warning_readings,
    coalesce(any_value(x.alarm_readings), 0)::bigint    as alarm_readings,
    round(max(ps.max_load_ratio), 4)::double            as max_load_ratio,
    case
        when coalesce(any_value(x.alarm_readings), 0) > 0 then '报警'
        when coalesce(any_value(x.warning_readings), 0) > 0 then '预警'
        else '正常'
    end                                                 as safety_level
from per_sensor as ps
inner join bridges as b
    on b.bridge_id = ps.bridge_id
left join exceed as x
    on x.bridge_id = ps.bridge_id and x.reading_date = ps.reading_date
left join {{ ref('base_areas') }} as a
    on a.area_code = b.area_code
group by b.bridge_id, ps.reading_date, b.component_id, b.bridge_name, b.area_code, a.area_name
