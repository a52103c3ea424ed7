-- Bridge monitoring readings with the bridge's 16-digit component id and the thresholds of their sensor type (theme layer / 主题库).

select
    r.sensor_id,
    r.reading_time,
    r.reading_date,
    r.bridge_id,
    fac.component_id,
    r.bridge_name,
    r.area_code,
    r.sensor_type,
    r.unit,
    r.value,
    t.warning_threshold,
    t.alarm_threshold,
    r.value is not null and r.value > t.warning_threshold     as over_warning,
    r.value is not null and r.value > t.alarm_threshold       as over_alarm,
    r.source_alarm
from {{ ref('stg_zjw__bridge_sensor_readings') }} as r
left join {{ ref('bridge_sensor_thresholds') }} as t
    on t.sensor_type = r.sensor_type
left join {{ ref('base_facilities') }} as fac
    on fac.department = 'zjw' and fac.source_id = r.bridge_id
