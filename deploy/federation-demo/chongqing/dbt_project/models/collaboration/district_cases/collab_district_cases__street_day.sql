-- Scenario dataset 区县城市管理案件街道日统计 (collaboration layer / 协同专题库) of the `cityshare demo --federation` city:
-- the cases each district platform shares, landed here by data exchange (数据交换: cyzx/nanan_city_cases,
-- cyzx/yubei_city_cases, receipts verified at the gate), counted per district, street and day.

with district_cases as (

    select area_code, street_code, reported_at, status from {{ ref('stg_cyzx__nanan_city_cases') }}
    union all
    select area_code, street_code, reported_at, status from {{ ref('stg_cyzx__yubei_city_cases') }}

)

select
    street_code,
    cast(reported_at as date) as stat_date,
    area_code,
    count(*) as cases,
    count(*) filter (where status = '已结案') as closed_cases
from district_cases
group by street_code, cast(reported_at as date), area_code
