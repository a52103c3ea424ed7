-- Market-entity registry from 市场监管局: typed, latest version per USCC, codes standardized, legal person masked + tokenized (standard layer / 标准库).

with source as (

    select * from {{ source('raw', 'scjgj__business_registry') }}

),

typed as (

    select
        upper({{ cs_clean('uscc') }})                   as uscc,
        {{ cs_clean('entity_name') }}                   as entity_name,
        {{ cs_clean('entity_type') }}                   as entity_type,
        {{ cs_clean('industry') }}                      as industry,
        {{ cs_clean('legal_person_name') }}             as legal_person_name_raw,
        {{ cs_normalize_id_number('legal_person_id') }}
                                                        as legal_person_id_raw,
        {{ cs_clean('area_code') }}                     as area_code,
        {{ cs_clean('street_code') }}                   as street_code,
        {{ cs_clean('address') }}                       as address_raw,
        {{ cs_parse_date('registered_on') }}            as registered_on,
        {{ cs_clean('status') }}                        as status,
        {{ cs_parse_timestamp('updated_at') }}          as updated_at,
        _load_id,
        _loaded_at,
        _load_date,
        _source,
        _row_hash,
        _batch_seq
    from source

),

-- one row per entity: its latest registered version (then the latest load; ties: highest row hash)
latest_version as (

    select *
    from typed
    where uscc is not null
    qualify row_number() over (
        partition by uscc
        order by updated_at desc nulls last, _load_date desc nulls last, _batch_seq desc nulls last, _row_hash desc nulls last
    ) = 1

),

area_code_changes as (

    select old_code, new_code from {{ ref('area_code_changes') }}

)

select
    b.uscc,
    b.entity_name,
    b.entity_type,
    b.industry,
    cs_mask_person_name(b.legal_person_name_raw)        as legal_person_name,
    cs_mask_id_number(b.legal_person_id_raw)            as legal_person_id,
    cs_token(b.legal_person_id_raw)                     as legal_person_token,
    -- GB/T 2260: legacy county codes mapped to current ones
    coalesce(area_change.new_code, b.area_code)         as area_code,
    case
        when street_change.new_code is not null
            then street_change.new_code || substr(b.street_code, 7)
        else b.street_code
    end                                                 as street_code,
    cs_truncate_address(b.address_raw)                  as address,
    b.registered_on,
    b.status,
    b.updated_at,
    b._load_id,
    b._loaded_at,
    b._load_date,
    b._source
from latest_version as b
left join area_code_changes as area_change
    on area_change.old_code = b.area_code
left join area_code_changes as street_change
    on street_change.old_code = left(b.street_code, 6)
