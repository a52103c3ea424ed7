-- Elderly-care sensor alerts with the elder's care level and unit grid, response time and its limit (theme layer / 主题库).
-- No name, phone or ID number: the elder appears as elder_id and the keyed token only.

select
    a.alert_id,
    a.alert_type,
    a.elder_id,
    a.elder_person_token,
    e.care_level,
    a.area_code,
    a.street_code,
    a.community,
    {{ cs_unit_grid_code('e.grid_code') }}              as unit_grid_code,
    a.alert_time,
    cast(a.alert_time as date)                          as alert_date,
    a.responder,
    a.responded_at,
    lim.limit_minutes                                   as response_limit_minutes,
    case when a.responded_at >= a.alert_time
        then {{ cs_seconds_between('a.alert_time', 'a.responded_at') }} / 60.0 end::double  as response_minutes,
    coalesce(a.responded_at >= a.alert_time
        and {{ cs_seconds_between('a.alert_time', 'a.responded_at') }} <= lim.limit_minutes * 60, false)  as responded_on_time
from {{ ref('stg_mzj__elderly_sensor_alerts') }} as a
left join {{ ref('stg_mzj__elderly_living_alone') }} as e
    on e.elder_id = a.elder_id
left join {{ ref('service_limits') }} as lim
    on lim.scenario = 'elderly_care' and lim.item = a.alert_type
where a.alert_time is not null
