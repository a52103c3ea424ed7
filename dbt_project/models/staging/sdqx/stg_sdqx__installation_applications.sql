-- Joint utility installation applications (水电气讯一站式联合报装): the rows of a day are the applications that moved;
-- typed, one row per application in its latest state, codes standardized (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy='delete+insert', unique_key=['application_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'sdqx__installation_applications')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'sdqx__installation_applications')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('application_id') }})         as application_id,
        {{ cs_clean('utility_type') }}                  as utility_type,
        {{ cs_clean('provider') }}                      as provider,
        {{ cs_clean('applicant_name') }}                as applicant_name,
        upper({{ cs_clean('applicant_uscc') }})         as applicant_uscc,
        {{ cs_std_area_code('area_code') }}             as area_code,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('project_address') }}               as project_address,
        {{ cs_parse_timestamp('applied_at') }}          as applied_at,
        {{ cs_parse_timestamp('accepted_at') }}         as accepted_at,
        {{ cs_parse_timestamp('surveyed_at') }}         as surveyed_at,
        {{ cs_parse_timestamp('approved_at') }}         as approved_at,
        {{ cs_parse_timestamp('built_at') }}            as built_at,
        {{ cs_parse_timestamp('connected_at') }}        as connected_at,
        {{ cs_clean('status') }}                        as status,
        _load_id, _loaded_at, _load_date, _source, _row_hash
    from {{ source('raw', 'sdqx__installation_applications') }}
    where {{ cs_unseen_batches(source('raw', 'sdqx__installation_applications')) }}

),

final as (

    select * from typed
    where application_id is not null
    {{ cs_latest_per('application_id', '_load_date') }}

)

{{ cs_merge_latest('final', 'application_id', '_load_date') }}
