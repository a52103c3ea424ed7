-- Unit grids (单元网格) with their GB/T 30428.1 14-digit codes (6 county + 3 street + 3 community + 2 grid), one row per grid
-- across the street offices' rosters and 民政局's registry of elders (base layer / 基础库).
-- A view: a few hundred rows over the daily rosters, read by base_communities and one scenario; as a table it
-- was one more dbt node on every next-day build (the rosters and the registry are delivered daily).
{{ config(materialized='view') }}

with roster_grids as (

    select
        unit_grid_code,
        any_value(source_grid_code)                     as source_grid_code,
        any_value(grid_name)                            as grid_name,
        any_value(grid_type)                            as grid_type,
        any_value(community)                            as community_name,
        any_value(department)                           as department,
        count(distinct worker_id)                       as grid_workers
    from (
        {{ cs_union_all_by_name([ref('stg_jd_nanping__grid_workers'), ref('stg_jd_lijia__grid_workers')]) }}
    )
    where unit_grid_code is not null
        and in_latest_roster
    group by unit_grid_code

),

-- grids named only by other departments (an elder's grid the roster does not list yet)
other_grids as (

    select
        {{ cs_unit_grid_code('e.grid_code') }}          as unit_grid_code,
        any_value(e.grid_code)                          as source_grid_code,
        any_value(e.community)                          as community_name
    from {{ ref('stg_mzj__elderly_living_alone') }} as e
    group by 1

)

select
    g.unit_grid_code,
    left(g.unit_grid_code, 6)                           as area_code,
    left(g.unit_grid_code, 9)                           as street_code,
    s.street_name,
    left(g.unit_grid_code, 12)                          as community_code,
    coalesce(r.community_name, g.community_name)        as community_name,
    right(g.unit_grid_code, 2)                          as grid_seq,
    coalesce(r.grid_name, g.community_name || '网格' || right(g.unit_grid_code, 2)) as grid_name,
    coalesce(r.grid_type, '社区网格')                   as grid_type,
    coalesce(r.source_grid_code, g.source_grid_code)    as source_grid_code,
    coalesce(r.grid_workers, 0)::bigint                 as grid_workers,
    r.unit_grid_code is not null                        as in_street_roster
from (
    select unit_grid_code, source_grid_code, community_name from roster_grids
    union all
    select o.unit_grid_code, o.source_grid_code, o.community_name
    from other_grids as o
    where o.unit_grid_code is not null
        and o.unit_grid_code not in (select unit_grid_code from roster_grids)
) as g
left join roster_grids as r
    on r.unit_grid_code = g.unit_grid_code
left join {{ ref('base_streets') }} as s
    on s.street_code = left(g.unit_grid_code, 9)
