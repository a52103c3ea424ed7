-- Parking lots with their facility (部件) id: the registry attributes lot_day carries, one row per lot (theme layer / 主题库).
-- A view: theme_parking__lot_day compares it with what it holds to find lots whose attributes changed.

{{ config(materialized='view') }}

select
    l.lot_id,
    l.lot_name,
    l.lot_type,
    l.area_code,
    l.street_code,
    l.total_spaces                                      as lot_total_spaces,
    fac.component_id
from {{ ref('stg_jtj__parking_lots') }} as l
left join {{ ref('base_facilities') }} as fac
    on fac.department = 'jtj' and fac.source_id = l.lot_id
