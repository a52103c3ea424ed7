-- Parking lots with their facility (部件) id: the registry attributes lot_day carries, one row per lot (theme layer / 主题库).
-- A view: theme_parking__lot_day compares it with what it holds to find lots whose attributes changed.

{{ config(materialized='view') }}

select {{ cs_star(ref('base_parking_lots'), exclude=['lng', 'lat', 'opened_on', 'component_class_code'],
                 rename={'total_spaces': 'lot_total_spaces'}) }}
from {{ ref('base_parking_lots') }}
