-- Bridge monitoring readings from 住建委 (JSON lines, ~4 % a day late): typed, one row per (sensor, time) (standard layer / 标准库).
-- The county of a bridge is the GB/T 2260 code inside its registry number (QL + 6-digit county + serial).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['sensor_id', 'reading_time'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'zjw__bridge_sensor_readings')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'zjw__bridge_sensor_readings')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('sensor_id') }})              as sensor_id,
        {{ cs_parse_timestamp('reading_time') }}        as reading_time,
        {{ cs_clean('sensor_type') }}                   as sensor_type,
        {{ cs_clean('unit') }}                          as unit,
        upper({{ cs_clean('bridge_id') }})              as bridge_id,
        {{ cs_clean('bridge_name') }}                   as bridge_name,
        {{ cs_parse_double('value') }}                  as value,
        {{ cs_parse_bool('alarm') }}                    as source_alarm,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'zjw__bridge_sensor_readings') }}
    where {{ cs_unseen_batches(source('raw', 'zjw__bridge_sensor_readings')) }}

),

final as (

    select
        sensor_id,
        reading_time,
        cast(reading_time as date)                          as reading_date,
        sensor_type,
        unit,
        bridge_id,
        bridge_name,
        case when {{ cs_regexp_full_match('bridge_id', 'QL[0-9]{6}[0-9]+') }}
            then {{ cs_std_area_code('substr(bridge_id, 3, 6)') }} end  as area_code,
        value,
        coalesce(source_alarm, false)                       as source_alarm,
        {{ cs_load_meta() }},
        _row_hash
    from typed
    where sensor_id is not null and reading_time is not null
    {{ cs_latest_per('sensor_id, reading_time') }}

)

{{ cs_merge_latest('final', 'sensor_id, reading_time', partition='reading_date') }}
