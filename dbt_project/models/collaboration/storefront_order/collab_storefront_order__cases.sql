-- Task dataset (城管局): 店外经营 (GB/T 30428.2 event 0502) cases with their street, day, registered shop and closure (collaboration layer / 协同专题库).

select
    c.case_id,
    c.street_code,
    c.area_code,
    cast(c.reported_at as date)         as stat_date,
    c.reported_at,
    c.shop_uscc,
    c.shop_name,
    c.shop_name is not null             as has_registered_shop,
    c.is_closed
from {{ ref('theme_city_cases__case') }} as c
where c.event_class_code = '0502'
    and c.street_code is not null
    and c.reported_at is not null
