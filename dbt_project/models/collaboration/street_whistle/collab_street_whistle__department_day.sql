-- Scenario dataset 街道吹哨、部门报到: per street, responding department and day, cases raised, 报到 (arrival) and closing
-- times against their limits (collaboration layer / 协同专题库).

select
    c.street_code,
    c.department,
    c.raised_on                                         as stat_date,
    any_value(c.street_name)                            as street_name,
    count(*)::bigint                                    as cases,
    count(c.reported_at)::bigint                        as reported,
    count(*) filter (where c.reported_on_time)::bigint  as reported_on_time,
    count(*) filter (where c.is_closed)::bigint         as closed,
    round(avg(c.dispatch_minutes), 1)::double           as mean_dispatch_minutes,
    round(avg(c.report_minutes) / 60.0, 2)::double      as mean_report_hours,
    round(100.0 * count(*) filter (where c.reported_on_time) / count(*), 2)::double  as report_on_time_rate,
    round(100.0 * count(*) filter (where c.is_closed) / count(*), 2)::double         as close_rate
from {{ ref('theme_street_governance__whistle_case') }} as c
group by c.street_code, c.department, c.raised_on
