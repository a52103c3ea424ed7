-- Street-lamp faults with the lamp's 16-digit component id, the repair time limit and on-time repair (theme layer / 主题库).

select
    f.fault_id,
    fac.component_id,
    f.lamp_id,
    f.area_code,
    f.street_code,
    s.street_name,
    f.road,
    f.fault_type,
    f.reported_at,
    cast(f.reported_at as date)                         as reported_on,
    f.repaired_at,
    f.repair_status,
    f.repair_status = '已修复' and f.repaired_at is not null   as is_repaired,
    lim.limit_minutes                                   as repair_limit_minutes,
    case when f.repaired_at is not null
        then {{ cs_seconds_between('f.reported_at', 'f.repaired_at') }} / 60.0 end::double  as repair_minutes,
    coalesce(
        f.repair_status = '已修复' and f.repaired_at is not null
        and {{ cs_seconds_between('f.reported_at', 'f.repaired_at') }} <= lim.limit_minutes * 60,
        false
    )                                                   as repaired_on_time
from {{ ref('stg_cgj__street_lamp_faults') }} as f
left join {{ ref('base_facilities') }} as fac
    on fac.department = 'cgj' and fac.source_id = f.lamp_id
left join {{ ref('service_limits') }} as lim
    on lim.scenario = 'street_lighting' and lim.item = f.fault_type
left join {{ ref('base_streets') }} as s
    on s.street_code = f.street_code
where f.reported_at is not null
