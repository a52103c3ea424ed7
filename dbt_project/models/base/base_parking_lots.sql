-- Parking lots (停车场, 交通局) with their GB/T 30428.1 16-digit facility id, class 0201, one row per lot (base layer / 基础库).
-- Lots are the only facilities of class 0201, so their serials need no other facility: numbering them here, apart
-- from base_facilities (which takes these ids), keeps the parking chain (theme_parking__lot_day) from waiting on the
-- bridge readings base_facilities scans every day (README, Incremental builds). A view: a registry of a few
-- thousand rows.

{{ config(materialized='view') }}

select
    lot_id,
    lot_name,
    lot_type,
    area_code,
    street_code,
    lng,
    lat,
    total_spaces,
    opened_on,
    '0201'                                              as component_class_code,
    case when area_code is not null
        then {{ cs_component_id('area_code', "'0201'", 'opened_on', 'lot_id') }} end   as component_id
from {{ ref('stg_jtj__parking_lots') }}
