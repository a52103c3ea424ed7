-- Parking lots per day: occupancy observations of smart lots, mean and peak occupancy rate (theme layer / 主题库).
-- Incremental by day (macros/incremental_days.sql): a build recomputes the days its new occupancy rows fall on,
-- plus every day of a lot whose registry attributes or facility id changed since (theme_parking__lot).

{%- set lot_columns = 'lot_name, lot_type, area_code, street_code, lot_total_spaces, component_id' %}

{{ config(
    materialized='incremental', incremental_strategy='append',
    partition_by=cs_partition_by(), on_schema_change='fail',
    pre_hook="{{ cs_replace_days('observed_date', ref('stg_jtj__parking_occupancy'), 'observed_date',
                                 also=cs_changed_keys('lot_id', 'lot_id', '" ~ lot_columns ~ "', ref('theme_parking__lot'))) }}",
    post_hook="{{ cs_record_batches(ref('stg_jtj__parking_occupancy')) }}",
) }}

with observations as (

    select
        o.lot_id,
        o.observed_date,
        o.occupied,
        coalesce(o.total, l.lot_total_spaces)           as total
    from {{ ref('stg_jtj__parking_occupancy') }} as o
    left join {{ ref('theme_parking__lot') }} as l
        on l.lot_id = o.lot_id
    where {{ cs_in_new_days('o.observed_date', ref('stg_jtj__parking_occupancy'), 'observed_date',
                            also=cs_changed_keys('o.lot_id', 'lot_id', lot_columns, ref('theme_parking__lot'))) }}

)

select
    obs.lot_id,
    obs.observed_date,
    l.component_id,
    l.lot_name,
    l.lot_type,
    l.area_code,
    l.street_code,
    max(obs.total)                                      as total_spaces,
    l.lot_total_spaces,
    count(*)                                            as observations,
    round(avg(least(obs.occupied, obs.total) / nullif(obs.total, 0)), 4)::double   as mean_occupancy_rate,
    round(max(least(obs.occupied, obs.total) / nullif(obs.total, 0)), 4)::double   as peak_occupancy_rate,
    count(*) filter (where obs.occupied >= 0.9 * obs.total)                         as near_full_observations{{ cs_partition_column('obs.observed_date') }}
from observations as obs
left join {{ ref('theme_parking__lot') }} as l
    on l.lot_id = obs.lot_id
where obs.total > 0
group by all
