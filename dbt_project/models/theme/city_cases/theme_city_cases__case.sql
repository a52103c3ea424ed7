-- City-management cases with event classes (GB/T 30428.2), area/street names and the registered shop (theme layer / 主题库).

with cases as (

    select * from {{ ref('stg_cgj__city_cases') }}

),

event_classes as (

    select code, name, major_code, major_name from {{ ref('event_classes') }}

),

enriched as (

    select
        c.case_id,
        coalesce(ec.major_code, left(c.event_class_code, 2))    as event_major_code,
        ec.major_name                                           as event_major_name,
        c.event_class_code,
        coalesce(ec.name, c.event_class_name)                   as event_class_name,
        c.area_code,
        a.area_name,
        c.street_code,
        s.street_name,
        c.address,
        c.shop_uscc,
        shop.entity_name                                        as shop_name,
        c.reported_at,
        c.closed_at,
        c.status,
        coalesce(c.status = '结案', false)                      as is_closed,
        c.report_channel,
        c.reporter_phone,
        c.reporter_token
    from cases as c
    left join event_classes as ec
        on ec.code = c.event_class_code
    left join {{ ref('base_areas') }} as a
        on a.area_code = c.area_code
    left join {{ ref('base_streets') }} as s
        on s.street_code = c.street_code
    left join {{ ref('base_legal_entity') }} as shop
        on shop.uscc = c.shop_uscc

)

select
    case_id,
    event_major_code,
    event_major_name,
    event_class_code,
    event_class_name,
    area_code,
    area_name,
    street_code,
    street_name,
    address,
    shop_uscc,
    shop_name,
    reported_at,
    closed_at,
    status,
    is_closed,
    -- handling time of a closed case, in hours; NULL while the case is open
    case
        when is_closed then {{ cs_seconds_between('reported_at', 'closed_at') }} / 3600.0
    end::double                                                 as handling_hours,
    report_channel,
    reporter_phone,
    reporter_token
from enriched
