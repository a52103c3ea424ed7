-- collab_storefront_order__street_day (published): one row per (street_code, stat_date); counts consistent.
select 'key duplicated' as failure, street_code, stat_date
from {{ ref('collab_storefront_order__street_day') }}
group by street_code, stat_date
having count(*) > 1

union all

select 'inconsistent counts', street_code, stat_date
from {{ ref('collab_storefront_order__street_day') }}
where street_code is null
    or stat_date is null
    or registered_shops < 0
    or cases_with_registered_shop > storefront_cases
    or closed_cases > storefront_cases
    or (registered_shops = 0) <> (cases_per_100_shops is null)
