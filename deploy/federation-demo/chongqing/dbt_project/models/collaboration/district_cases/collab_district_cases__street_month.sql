-- Scenario dataset 区县城市管理案件街道月度指标 (collaboration layer / 协同专题库) of the `cityshare demo --federation`
-- city: the periodic indicators it reports to the national platform (上报指标), computed from the districts' cases
-- as exchanged (数据交换) and combined per street and day in collab_district_cases__street_day, so the report's
-- lineage runs back through that table to each district's shared table.

with street_day as (

    select street_code, date_trunc('month', stat_date) as stat_month, area_code, cases, closed_cases
    from {{ ref('collab_district_cases__street_day') }}

)

select
    street_code,
    cast(stat_month as date) as stat_month,
    area_code,
    cast(sum(cases) as bigint) as cases,
    cast(sum(closed_cases) as bigint) as closed_cases,
    round(100.0 * sum(closed_cases) / sum(cases), 2) as closure_rate
from street_day
group by street_code, stat_month, area_code
