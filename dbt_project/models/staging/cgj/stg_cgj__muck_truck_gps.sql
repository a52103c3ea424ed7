-- Muck-truck GPS points from 城管局 (JSON lines, late and unordered): typed, one row per (device, time) (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['device_id', 'gps_time'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'cgj__muck_truck_gps')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'cgj__muck_truck_gps')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('device_id') }})              as device_id,
        upper({{ cs_clean('plate_no') }})               as plate_no,
        {{ cs_parse_timestamp('gps_time') }}            as gps_time,
        {{ cs_parse_double('lng') }}                    as lng,
        {{ cs_parse_double('lat') }}                    as lat,
        {{ cs_parse_double('speed_kmh') }}              as speed_kmh,
        {{ cs_parse_int('heading') }}                   as heading,
        upper({{ cs_clean('site_id') }})                as site_id,
        {{ cs_clean('site_type') }}                     as site_type,
        {{ cs_clean('load_state') }}                    as load_state,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'cgj__muck_truck_gps') }}
    where {{ cs_unseen_batches(source('raw', 'cgj__muck_truck_gps')) }}

),

final as (

    select
        device_id,
        plate_no,
        gps_time,
        cast(gps_time as date)                              as gps_date,
        lng,
        lat,
        speed_kmh,
        heading,
        site_id,
        site_type,
        load_state,
        {{ cs_load_meta() }},
        _row_hash
    from typed
    where device_id is not null and gps_time is not null
    {{ cs_latest_per('device_id, gps_time') }}

)

{{ cs_merge_latest('final', 'device_id, gps_time', partition='gps_date') }}
