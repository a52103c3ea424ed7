-- Street-lamp faults from 城管局 城市照明 (daily .xlsx, one sheet per district): typed, one row per fault (latest load wins), street codes standardized (standard layer / 标准库).

with typed as (

    select
        upper({{ cs_clean('fault_id') }})               as fault_id,
        upper({{ cs_clean('lamp_id') }})                as lamp_id,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_clean('road') }}                          as road,
        {{ cs_clean('fault_type') }}                    as fault_type,
        {{ cs_parse_timestamp('reported_at') }}         as reported_at,
        {{ cs_parse_timestamp('repaired_at') }}         as repaired_at,
        {{ cs_clean('repair_status') }}                 as repair_status,
        {{ cs_clean('district_name') }}                 as district_name,
        _load_id, _loaded_at, _load_date, _source, _row_hash
    from {{ source('raw', 'cgj__street_lamp_faults') }}

)

select
    fault_id,
    lamp_id,
    left(street_code, 6)                                as area_code,
    street_code,
    road,
    fault_type,
    reported_at,
    repaired_at,
    repair_status,
    district_name,
    {{ cs_load_meta() }}
from typed
where fault_id is not null
{{ cs_latest_per('fault_id') }}
