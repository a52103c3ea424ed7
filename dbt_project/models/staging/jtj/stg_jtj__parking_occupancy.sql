-- Parking occupancy counts from 交通局's smart-parking feed (every 30 min): typed, one row per (lot, time) (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['lot_id', 'observed_at'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'jtj__parking_occupancy')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'jtj__parking_occupancy')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('lot_id') }})                 as lot_id,
        {{ cs_parse_timestamp('observed_at') }}         as observed_at,
        {{ cs_parse_int('occupied') }}                  as occupied,
        {{ cs_parse_int('free') }}                      as free,
        {{ cs_parse_int('total') }}                     as total,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'jtj__parking_occupancy') }}
    where {{ cs_unseen_batches(source('raw', 'jtj__parking_occupancy')) }}

),

final as (

    select
        lot_id,
        observed_at,
        cast(observed_at as date)                           as observed_date,
        occupied,
        free,
        total,
        {{ cs_load_meta() }},
        _row_hash
    from typed
    where lot_id is not null and observed_at is not null
    {{ cs_latest_per('lot_id, observed_at') }}

)

{{ cs_merge_latest('final', 'lot_id, observed_at', partition='observed_date') }}
