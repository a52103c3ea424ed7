-- Scenario dataset 门前三包/店外经营: per street and day, registered shops vs storefront cases (collaboration layer / 协同专题库).
-- Integrates the task datasets bottom-up: registered shops (市场监管局) + storefront cases (城管局) per street (街道).

with shops as (

    select * from {{ ref('collab_storefront_order__shops') }}

),

storefront_cases as (

    select * from {{ ref('collab_storefront_order__cases') }}

),

-- date spine: every day on which any case (of any class) was reported
case_dates as (

    select distinct cast(reported_at as date) as stat_date
    from {{ ref('theme_city_cases__case') }}
    where reported_at is not null

),

-- every street with at least one registered shop or one storefront case
streets as (

    select street_code from shops
    union
    select street_code from storefront_cases

),

street_days as (

    select streets.street_code, case_dates.stat_date
    from streets
    cross join case_dates

),

-- running number of shops registered in each street, at each registration day
shops_to_date as (

    select
        street_code,
        registered_on,
        sum(count(*)) over (partition by street_code order by registered_on) as registered_shops
    from shops
    where registered_on is not null
    group by street_code, registered_on

),

cases_per_street_day as (

    select
        street_code,
        stat_date,
        count(*)                                        as storefront_cases,
        count(*) filter (where has_registered_shop)     as cases_with_registered_shop,
        count(*) filter (where is_closed)               as closed_cases
    from storefront_cases
    group by street_code, stat_date

),

counted as (

    select
        sd.street_code,
        sd.stat_date,
        -- shops registered on or before the day (the latest registration day not after it)
        coalesce(reg.registered_shops, 0)::bigint               as registered_shops,
        coalesce(cases.storefront_cases, 0)::bigint             as storefront_cases,
        coalesce(cases.cases_with_registered_shop, 0)::bigint   as cases_with_registered_shop,
        coalesce(cases.closed_cases, 0)::bigint                 as closed_cases
    from street_days as sd
    {{ cs_asof_left_join('shops_to_date', 'reg', 'street_code', 'sd.street_code', 'sd.stat_date', 'registered_on') }}
    left join cases_per_street_day as cases
        on cases.street_code = sd.street_code
        and cases.stat_date = sd.stat_date

)

select
    counted.street_code,
    counted.stat_date,
    s.street_name,
    s.area_code,
    s.area_name,
    counted.registered_shops,
    counted.storefront_cases,
    counted.cases_with_registered_shop,
    counted.closed_cases,
    case
        when counted.registered_shops > 0
            then round(100.0 * counted.storefront_cases / counted.registered_shops, 2)
    end::double                                                 as cases_per_100_shops
from counted
inner join {{ ref('base_streets') }} as s
    on s.street_code = counted.street_code
