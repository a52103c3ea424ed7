-- Scenario dataset 城市照明保障: per street and day of report, faults → repairs → on-time rate (collaboration layer / 协同专题库).

select
    r.street_code,
    r.reported_on                                       as stat_date,
    any_value(s.street_name)                            as street_name,
    any_value(r.area_code)                              as area_code,
    count(*)::bigint                                    as faults,
    count(distinct r.component_id)::bigint              as lamps,
    count(*) filter (where r.is_repaired)::bigint       as repaired,
    count(*) filter (where r.repaired_on_time)::bigint  as repaired_on_time,
    count(*) filter (where not r.is_repaired)::bigint   as open_faults,
    round(100.0 * count(*) filter (where r.repaired_on_time) / count(*), 2)::double  as on_time_rate,
    round(avg(r.repair_minutes) filter (where r.is_repaired) / 60.0, 2)::double       as mean_repair_hours
from {{ ref('collab_street_lighting__repairs') }} as r
left join {{ ref('base_streets') }} as s
    on s.street_code = r.street_code
where r.street_code is not null
group by r.street_code, r.reported_on
