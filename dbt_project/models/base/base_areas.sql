-- Chongqing county-level areas, GB/T 2260 (base layer / 基础库).

select
    code            as area_code,
    name            as area_name
from {{ ref('chongqing_areas') }}
