-- 街道吹哨、部门报到 cases raised by 礼嘉街道: typed, one row per case, 14-digit unit grid code (standard layer / 标准库).
-- Incremental: a build reads only the batches the model has not processed yet (macros/incremental.sql).

{{ config(
    materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
    partition_by=cs_partition_by(), unique_key=['case_id'],
    on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', 'jd_lijia__street_cases')) }}",
    post_hook="{{ cs_record_batches(source('raw', 'jd_lijia__street_cases')) }}",
) }}

{{ stg_street_cases('jd_lijia') }}
