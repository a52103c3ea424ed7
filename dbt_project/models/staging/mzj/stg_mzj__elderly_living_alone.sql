-- Registry of elderly people living alone from 民政局 (daily .xlsx): typed, one row per elder (latest load wins);
-- name/ID/phones masked, ID and phone tokenized (HMAC), home address cut to the community (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['elder_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'mzj__elderly_living_alone')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'mzj__elderly_living_alone')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('elder_id') }})               as elder_id,
        {{ cs_clean('name') }}                          as name_raw,
        {{ cs_normalize_id_number('person_id') }} as person_id_raw,
        {{ cs_clean('gender') }}                        as gender,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('community') }}                     as community,
        {{ cs_clean('grid_code') }}                     as grid_code,
        {{ cs_normalize_phone('phone') }}               as phone_raw,
        {{ cs_normalize_phone('contact_phone') }}       as contact_phone_raw,
        {{ cs_clean('care_level') }}                    as care_level,
        {{ cs_parse_bool('sensor_installed') }}         as sensor_installed,
        {{ cs_parse_date('registered_on') }}            as registered_on,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'mzj__elderly_living_alone') }}
    where {{ cs_unseen_batches(source('raw', 'mzj__elderly_living_alone')) }}

),

latest as (

    select * from typed
    where elder_id is not null
    {{ cs_latest_per('elder_id') }}

),

final as (

    select
        elder_id,
        cs_mask_person_name(name_raw)                       as name,
        cs_mask_id_number(person_id_raw)                    as person_id,
        cs_token(person_id_raw)                             as person_token,
        gender,
        -- birth year from the ID number (GB 11643 positions 7-10): age groups without the birth date
        try_cast(substr(person_id_raw, 7, 4) as integer)    as birth_year,
        left(street_code, 6)                                as area_code,
        street_code,
        community,
        grid_code,
        -- home address kept only down to the community (no building / flat number)
        community                                           as address,
        cs_mask_mobile(phone_raw)                           as phone,
        cs_token(phone_raw)                                 as phone_token,
        cs_mask_mobile(contact_phone_raw)                   as contact_phone,
        care_level,
        coalesce(sensor_installed, false)                   as sensor_installed,
        registered_on,
        {{ cs_load_meta() }},
        _row_hash
    from latest

)

{{ cs_merge_latest('final', 'elder_id') }}
