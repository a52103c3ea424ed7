-- Parking lots per day: occupancy observations of smart lots, mean and peak occupancy rate (theme layer / 主题库).

with observations as (

    select
        o.lot_id,
        o.observed_date,
        o.occupied,
        coalesce(o.total, l.total_spaces)               as total
    from {{ ref('stg_jtj__parking_occupancy') }} as o
    left join {{ ref('stg_jtj__parking_lots') }} as l
        on l.lot_id = o.lot_id

)

select
    obs.lot_id,
    obs.observed_date,
    fac.component_id,
    l.lot_name,
    l.lot_type,
    l.area_code,
    l.street_code,
    max(obs.total)                                      as total_spaces,
    count(*)                                            as observations,
    round(avg(least(obs.occupied, obs.total) / nullif(obs.total, 0)), 4)::double   as mean_occupancy_rate,
    round(max(least(obs.occupied, obs.total) / nullif(obs.total, 0)), 4)::double   as peak_occupancy_rate,
    count(*) filter (where obs.occupied >= 0.9 * obs.total)                         as near_full_observations
from observations as obs
left join {{ ref('stg_jtj__parking_lots') }} as l
    on l.lot_id = obs.lot_id
left join {{ ref('base_facilities') }} as fac
    on fac.department = 'jtj' and fac.source_id = obs.lot_id
where obs.total > 0
group by all
