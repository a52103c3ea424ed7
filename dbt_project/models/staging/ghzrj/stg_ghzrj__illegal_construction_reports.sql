-- Illegal-construction leads from 规划和自然资源局 (GBK CSV): typed, one row per lead (latest load wins), codes standardized (standard layer / 标准库).

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
        _load_id, _loaded_at, _load_date, _source, _row_hash
    from {{ source('raw', 'ghzrj__illegal_construction_reports') }}

)

select * exclude (_row_hash)
from typed
where report_id is not null
{{ cs_latest_per('report_id') }}
