-- Smart-sensor alerts for elderly people from 民政局's care feed: typed, one row per alert; the elder's ID number masked + tokenized (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['alert_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'mzj__elderly_sensor_alerts')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'mzj__elderly_sensor_alerts')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('alert_id') }})               as alert_id,
        {{ cs_clean('device_id') }}                     as device_id,
        {{ cs_clean('alert_type') }}                    as alert_type,
        upper({{ cs_clean('elder_id') }})               as elder_id,
        {{ cs_normalize_id_number('elder_person_id') }} as elder_person_id_raw,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('community') }}                     as community,
        {{ cs_parse_timestamp('alert_time') }}          as alert_time,
        {{ cs_clean('responder') }}                     as responder,
        {{ cs_parse_timestamp('responded_at') }}        as responded_at,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'mzj__elderly_sensor_alerts') }}
    where {{ cs_unseen_batches(source('raw', 'mzj__elderly_sensor_alerts')) }}

),

latest as (

    select * from typed
    where alert_id is not null
    {{ cs_latest_per('alert_id') }}

),

final as (

    select
        alert_id,
        device_id,
        alert_type,
        elder_id,
        cs_mask_id_number(elder_person_id_raw)              as elder_person_id,
        cs_token(elder_person_id_raw)                       as elder_person_token,
        left(street_code, 6)                                as area_code,
        street_code,
        community,
        alert_time,
        responder,
        responded_at,
        {{ cs_load_meta() }},
        _row_hash
    from latest

)

{{ cs_merge_latest('final', 'alert_id') }}
