-- Street-lamp faults from 城管局 城市照明 (daily .xlsx, one sheet per district): typed, one row per fault (latest load wins), street codes standardized (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['fault_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'cgj__street_lamp_faults')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'cgj__street_lamp_faults')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('fault_id') }})               as fault_id,
        upper({{ cs_clean('lamp_id') }})                as lamp_id,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('road') }}                          as road,
        {{ cs_clean('fault_type') }}                    as fault_type,
        {{ cs_parse_timestamp('reported_at') }}         as reported_at,
        {{ cs_parse_timestamp('repaired_at') }}         as repaired_at,
        {{ cs_clean('repair_status') }}                 as repair_status,
        {{ cs_clean('district_name') }}                 as district_name,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'cgj__street_lamp_faults') }}
    where {{ cs_unseen_batches(source('raw', 'cgj__street_lamp_faults')) }}

),

final as (

    select
        fault_id,
        lamp_id,
        left(street_code, 6)                                as area_code,
        street_code,
        road,
        fault_type,
        reported_at,
        repaired_at,
        repair_status,
        district_name,
        {{ cs_load_meta() }},
        _row_hash
    from typed
    where fault_id is not null
    {{ cs_latest_per('fault_id') }}

)

{{ cs_merge_latest('final', 'fault_id') }}
