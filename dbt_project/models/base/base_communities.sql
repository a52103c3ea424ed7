-- Communities (社区) with 12-digit codes (9-digit street + 3-digit community, the 统计用区划代码 village level; community
-- segments are the street office's own numbering), one row per community, from the unit grids (base layer / 基础库).
-- A view, like base_unit_grids (tens of rows).
{{ config(materialized='view') }}

select
    g.community_code,
    any_value(g.community_name)                         as community_name,
    g.street_code,
    any_value(g.street_name)                            as street_name,
    g.area_code,
    a.area_name,
    count(*) filter (where g.grid_type = '社区网格')    as community_grids,
    sum(g.grid_workers)::bigint                         as grid_workers
from {{ ref('base_unit_grids') }} as g
left join {{ ref('base_areas') }} as a
    on a.area_code = g.area_code
-- 专属网格 carry a 9xx community segment (they span communities): not a community of their own
where substr(g.community_code, 10, 1) <> '9'
group by g.community_code, g.street_code, g.area_code, a.area_name
