-- Smart-kitchen (智慧厨房) AI alerts from 市场监管局: typed, one row per alert, codes standardized (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['alert_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'scjgj__kitchen_alerts')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'scjgj__kitchen_alerts')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('alert_id') }})               as alert_id,
        upper({{ cs_clean('kitchen_id') }})             as kitchen_id,
        upper({{ cs_clean('kitchen_uscc') }})           as kitchen_uscc,
        {{ cs_clean('kitchen_name') }}                  as kitchen_name,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('alert_type') }}                    as alert_type,
        {{ cs_parse_int('alert_level') }}               as alert_level,
        {{ cs_parse_timestamp('alert_time') }}          as alert_time,
        {{ cs_parse_bool('handled') }}                  as handled,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'scjgj__kitchen_alerts') }}
    where {{ cs_unseen_batches(source('raw', 'scjgj__kitchen_alerts')) }}

),

final as (

    select
        alert_id,
        kitchen_id,
        kitchen_uscc,
        kitchen_name,
        left(street_code, 6)                                as area_code,
        street_code,
        alert_type,
        alert_level,
        alert_time,
        coalesce(handled, false)                            as handled,
        {{ cs_load_meta() }},
        _row_hash
    from typed
    where alert_id is not null
    {{ cs_latest_per('alert_id') }}

)

{{ cs_merge_latest('final', 'alert_id') }}
