-- City facilities / components (部件) with GB/T 30428.1 16-digit ids (6 county + 2 major + 2 minor + 6 serial), one row per
-- real-world thing: street lamps (城管局), river bridges (住建委), parking lots (交通局) (base layer / 基础库).
-- Serials are allocated per county and class in order of first appearance (then source id), so an id never changes
-- when later facilities arrive (macros/component_ids.sql); parking lots come numbered from base_parking_lots.

with lamps as (

    select
        'cgj'                                           as department,
        lamp_id                                         as source_id,
        '0110'                                          as class_code,
        {{ cs_arg_by('min', 'street_code', 'reported_at') }}       as street_code,
        {{ cs_arg_by('min', 'area_code', 'reported_at') }}         as area_code,
        {{ cs_arg_by('min', 'road', 'reported_at') }} || '路灯'    as facility_name,
        min(cast(reported_at as date))                  as first_seen_on,
        cast(null as double)                            as lng,
        cast(null as double)                            as lat,
        cast(null as bigint)                            as capacity
    from {{ ref('stg_cgj__street_lamp_faults') }}
    where lamp_id is not null and reported_at is not null
    group by lamp_id

),

bridges as (

    select
        'zjw'                                           as department,
        bridge_id                                       as source_id,
        '0206'                                          as class_code,
        cast(null as {{ cs_text() }})                     as street_code,
        any_value(area_code)                            as area_code,
        any_value(bridge_name)                          as facility_name,
        min(reading_date)                               as first_seen_on,
        cast(null as double)                            as lng,
        cast(null as double)                            as lat,
        count(distinct sensor_id)                       as capacity
    from {{ ref('stg_zjw__bridge_sensor_readings') }}
    where bridge_id is not null and area_code is not null
    group by bridge_id

),

lots as (

    select
        'jtj'                                           as department,
        lot_id                                          as source_id,
        component_class_code                            as class_code,
        street_code,
        area_code,
        lot_name                                        as facility_name,
        opened_on                                       as first_seen_on,
        lng,
        lat,
        total_spaces                                    as capacity,
        component_id
    from {{ ref('base_parking_lots') }}
    where component_id is not null

),

numbered as (

    select *, {{ cs_component_id('area_code', 'class_code', 'first_seen_on', 'source_id') }} as component_id
    from (select * from lamps union all select * from bridges)
    union all
    select * from lots

)

select
    n.component_id,
    cc.major_code                                       as component_major_code,
    cc.major_name                                       as component_major_name,
    n.class_code                                        as component_class_code,
    cc.name                                             as component_class_name,
    n.department,
    n.source_id,
    n.facility_name,
    n.area_code,
    a.area_name,
    n.street_code,
    s.street_name,
    n.lng,
    n.lat,
    n.capacity,
    n.first_seen_on
from numbered as n
inner join {{ ref('component_classes') }} as cc
    on cc.code = n.class_code
left join {{ ref('base_areas') }} as a
    on a.area_code = n.area_code
left join {{ ref('base_streets') }} as s
    on s.street_code = n.street_code
