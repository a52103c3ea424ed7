-- Illegal-construction leads from 规划和自然资源局 (GBK CSV): typed, one row per lead (latest load wins), codes standardized (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['report_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'ghzrj__illegal_construction_reports')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'ghzrj__illegal_construction_reports')) }}",
) }}

with typed as (

    select
        upper({{ cs_clean('report_id') }})              as report_id,
        {{ cs_clean('source') }}                        as lead_source,
        {{ cs_std_area_code('area_code') }}             as area_code,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('address') }}                       as address,
        {{ cs_parse_double('area_m2') }}                as area_m2,
        {{ cs_clean('structure_type') }}                as structure_type,
        {{ cs_parse_date('discovered_on') }}            as discovered_on,
        {{ cs_clean('planning_permit_no') }}            as planning_permit_no,
        {{ cs_clean('status') }}                        as status,
        {{ cs_parse_double('lng') }}                    as lng,
        {{ cs_parse_double('lat') }}                    as lat,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', 'ghzrj__illegal_construction_reports') }}
    where {{ cs_unseen_batches(source('raw', 'ghzrj__illegal_construction_reports')) }}

),

final as (

    select * from typed
    where report_id is not null
    {{ cs_latest_per('report_id') }}

)

{{ cs_merge_latest('final', 'report_id') }}
