-- Parking-lot registry from 交通局's API (daily snapshot): typed, latest snapshot per lot, codes standardized (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['lot_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'jtj__parking_lots')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'jtj__parking_lots')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('lot_id') }})                 as lot_id,
        {{ cs_clean('lot_name') }}                      as lot_name,
        {{ cs_clean('lot_type') }}                      as lot_type,
        {{ cs_std_area_code('area_code') }}             as area_code,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('address') }}                       as address,
        {{ cs_parse_int('total_spaces') }}              as total_spaces,
        {{ cs_parse_int('charging_spaces') }}           as charging_spaces,
        upper({{ cs_clean('operator_uscc') }})          as operator_uscc,
        {{ cs_parse_double('lng') }}                    as lng,
        {{ cs_parse_double('lat') }}                    as lat,
        {{ cs_parse_double('first_hour_fee') }}         as first_hour_fee,
        {{ cs_parse_double('hourly_fee') }}             as hourly_fee,
        {{ cs_parse_date('opened_on') }}                as opened_on,
        coalesce({{ cs_parse_bool('smart') }}, false)   as is_smart,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'jtj__parking_lots') }}
    where {{ cs_unseen_batches(source('raw', 'jtj__parking_lots')) }}

),

final as (

    select * from typed
    where lot_id is not null
    {{ cs_latest_per('lot_id', '_load_date') }}

)

{{ cs_merge_latest('final', 'lot_id', '_load_date') }}
