-- Task dataset (城管局 数字城管): each case's GB/T 30428.4 evaluation flags — 应处置/处置/按期处置, 应结案/结案/按期结案, 返工 (collaboration layer / 协同专题库).
-- 处置 time is only known at 结案 (closed_at), so 按期处置 = closed within the class's 处置时限 and 按期结案 = closed within
-- 处置时限 plus the verification allowance (var cs_verify_allowance_hours, project rule).

with history as (

    select
        case_id,
        max(case when stage_order < prev_order then 1 else 0 end) = 1  as reworked
    from (
        select case_id, stage_order,
               lag(stage_order) over (partition by case_id order by load_date) as prev_order
        from {{ ref('stg_cgj__city_case_status_history') }}
    )
    group by case_id

),

cases as (

    select
        c.*,
        ec.disposal_hours
    from {{ ref('theme_city_cases__case') }} as c
    left join {{ ref('event_classes') }} as ec
        on ec.code = c.event_class_code
    where c.street_code is not null and c.reported_at is not null

)

select
    c.case_id,
    c.area_code,
    c.street_code,
    c.event_class_code,
    c.reported_at,
    date_trunc('month', c.reported_at)::date            as stat_month,
    c.status,
    c.disposal_hours,
    c.status not in ('上报', '作废')                    as should_dispose,
    c.status in ('处置', '核查', '结案')                as disposed,
    c.is_closed and c.closed_at >= c.reported_at
        and {{ cs_seconds_between('c.reported_at', 'c.closed_at') }} <= c.disposal_hours * 3600          as disposed_on_time,
    c.status not in ('上报', '作废')                    as should_close,
    c.is_closed                                         as closed,
    c.is_closed and c.closed_at >= c.reported_at
        and {{ cs_seconds_between('c.reported_at', 'c.closed_at') }}
            <= (c.disposal_hours + {{ var('cs_verify_allowance_hours', 24) }}) * 3600          as closed_on_time,
    coalesce(h.reworked, false)                         as reworked
from cases as c
left join history as h
    on h.case_id = c.case_id
