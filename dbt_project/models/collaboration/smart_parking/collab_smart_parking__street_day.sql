-- Scenario dataset 城市智慧停车: per street and day, parking supply, smart-lot occupancy and illegal-parking cases (collaboration layer / 协同专题库).

with days as (

    select distinct observed_date as stat_date from {{ ref('theme_parking__lot_day') }}

),

supply as (

    -- lots open on the day (opened_on on or before it)
    select
        l.street_code,
        d.stat_date,
        count(*)                                        as lots,
        sum(l.total_spaces)                             as total_spaces,
        count(*) filter (where l.is_smart)              as smart_lots
    from {{ ref('stg_jtj__parking_lots') }} as l
    cross join days as d
    where l.total_spaces > 0 and (l.opened_on is null or l.opened_on <= d.stat_date) and l.street_code is not null
    group by l.street_code, d.stat_date

),

occupancy as (

    select
        street_code,
        observed_date                                   as stat_date,
        sum(total_spaces)                               as observed_spaces,
        sum(mean_occupancy_rate * total_spaces) / nullif(sum(total_spaces), 0)  as mean_occupancy_rate,
        max(peak_occupancy_rate)                        as peak_occupancy_rate
    from {{ ref('theme_parking__lot_day') }}
    group by street_code, observed_date

),

cases as (

    select
        street_code,
        stat_date,
        count(*) filter (where channel = '数字城管')    as city_parking_cases,
        count(*) filter (where channel = '街道吹哨')    as street_parking_cases
    from {{ ref('collab_smart_parking__parking_cases') }}
    group by street_code, stat_date

)

select
    s.street_code,
    s.stat_date,
    st.street_name,
    st.area_code,
    s.lots::bigint                                      as lots,
    s.total_spaces::bigint                              as total_spaces,
    s.smart_lots::bigint                                as smart_lots,
    coalesce(o.observed_spaces, 0)::bigint              as observed_spaces,
    round(o.mean_occupancy_rate, 4)::double             as mean_occupancy_rate,
    round(o.peak_occupancy_rate, 4)::double             as peak_occupancy_rate,
    coalesce(c.city_parking_cases, 0)::bigint           as city_parking_cases,
    coalesce(c.street_parking_cases, 0)::bigint         as street_parking_cases
from supply as s
left join occupancy as o
    on o.street_code = s.street_code and o.stat_date = s.stat_date
left join cases as c
    on c.street_code = s.street_code and c.stat_date = s.stat_date
inner join {{ ref('base_streets') }} as st
    on st.street_code = s.street_code
