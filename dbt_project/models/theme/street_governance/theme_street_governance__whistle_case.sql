-- 街道吹哨、部门报到 cases of every street office, with dispatch, 报到 and closing times and their limits (theme layer / 主题库).

with cases as (

    {{ cs_union_all_by_name([ref('stg_jd_nanping__street_cases'), ref('stg_jd_lijia__street_cases')]) }}

),

limits as (

    select
        max(limit_minutes) filter (where item = '报到')  as report_limit_minutes,
        max(limit_minutes) filter (where item = '办结')  as close_limit_minutes
    from {{ ref('service_limits') }}
    where scenario = 'street_whistle'

)

select
    c.case_id,
    c.raised_by,
    c.street_code,
    s.street_name,
    c.community_code,
    c.unit_grid_code,
    c.category,
    c.department,
    c.raised_at,
    cast(c.raised_at as date)                           as raised_on,
    c.dispatched_at,
    c.reported_at,
    c.closed_at,
    c.status,
    c.status = '已办结'                                 as is_closed,
    {{ cs_seconds_between('c.raised_at', 'c.dispatched_at') }} / 60.0   as dispatch_minutes,
    case when c.reported_at >= c.raised_at
        then {{ cs_seconds_between('c.raised_at', 'c.reported_at') }} / 60.0 end::double  as report_minutes,
    case when c.closed_at >= c.raised_at
        then {{ cs_seconds_between('c.raised_at', 'c.closed_at') }} / 60.0 end::double    as close_minutes,
    coalesce(c.reported_at >= c.raised_at
        and {{ cs_seconds_between('c.raised_at', 'c.reported_at') }} <= l.report_limit_minutes * 60, false) as reported_on_time,
    coalesce(c.closed_at >= c.reported_at
        and {{ cs_seconds_between('c.reported_at', 'c.closed_at') }} <= l.close_limit_minutes * 60, false)  as closed_on_time
from cases as c
cross join limits as l
left join {{ ref('base_streets') }} as s
    on s.street_code = c.street_code
where c.raised_at is not null
