-- City-management cases from 城管局: typed, codes standardized, deduplicated, reporter phone masked + tokenized (standard layer / 标准库).

with source as (

    select * from {{ source('raw', 'cgj__city_cases') }}

),

typed as (

    select
        upper({{ cs_clean('case_id') }})                as case_id,
        {{ cs_pad_code('event_class_code', 4) }}        as event_class_code,
        {{ cs_clean('event_class_name') }}              as event_class_name,
        {{ cs_clean('area_code') }}                     as area_code,
        {{ cs_clean('street_code') }}                   as street_code,
        {{ cs_clean('address') }}                       as address,
        {{ cs_scrub_free_text('description') }}         as description,
        upper({{ cs_clean('shop_uscc') }})              as shop_uscc,
        {{ cs_parse_timestamp('reported_at') }}         as reported_at,
        {{ cs_parse_timestamp('closed_at') }}           as closed_at,
        {{ cs_clean('status') }}                        as status,
        {{ cs_clean('report_channel') }}                as report_channel,
        {{ cs_normalize_phone('reporter_phone') }}      as phone_normalized,
        _load_id,
        _loaded_at,
        _load_date,
        _source,
        _row_hash,
        _batch_seq
    from source

),

-- one row per case: the copy from the latest load wins (ties: highest row hash, deterministic)
deduplicated as (

    select *
    from typed
    where case_id is not null
    qualify row_number() over (
        partition by case_id
        order by _load_date desc nulls last, _batch_seq desc nulls last, _row_hash desc nulls last
    ) = 1

),

area_code_changes as (

    select old_code, new_code from {{ ref('area_code_changes') }}

)

select
    c.case_id,
    c.event_class_code,
    c.event_class_name,
    -- GB/T 2260: legacy county codes (梁平县 500228 → 梁平区 500155 ...) mapped to current ones
    coalesce(area_change.new_code, c.area_code)         as area_code,
    case
        when street_change.new_code is not null
            then street_change.new_code || substr(c.street_code, 7)
        else c.street_code
    end                                                 as street_code,
    c.address,
    c.description,
    c.shop_uscc,
    c.reported_at,
    c.closed_at,
    c.status,
    c.report_channel,
    cs_mask_mobile(c.phone_normalized)                  as reporter_phone,
    cs_token(c.phone_normalized)                        as reporter_token,
    c._load_id,
    c._loaded_at,
    c._load_date,
    c._source
from deduplicated as c
left join area_code_changes as area_change
    on area_change.old_code = c.area_code
left join area_code_changes as street_change
    on street_change.old_code = left(c.street_code, 6)
