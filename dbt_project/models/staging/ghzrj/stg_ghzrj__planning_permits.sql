-- Planning permits (建设工程规划许可) from 规划和自然资源局's database: typed, latest version per permit, codes standardized (standard layer / 标准库).

with typed as (

    select
        {{ cs_clean('permit_no') }}                     as permit_no,
        {{ cs_clean('project_name') }}                  as project_name,
        {{ cs_clean('builder_name') }}                  as builder_name,
        upper({{ cs_clean('builder_uscc') }})           as builder_uscc,
        {{ cs_std_area_code('area_code') }}             as area_code,
        {{ cs_std_street_code('street_code') }}         as street_code,
        {{ cs_parse_double('land_area_m2') }}           as land_area_m2,
        {{ cs_parse_double('floor_area_m2') }}          as floor_area_m2,
        {{ cs_clean('land_use') }}                      as land_use,
        {{ cs_parse_date('issued_on') }}                as issued_on,
        {{ cs_clean('status') }}                        as status,
        {{ cs_parse_timestamp('updated_at') }}          as updated_at,
        _load_id, _loaded_at, _load_date, _source, _row_hash
    from {{ source('raw', 'ghzrj__planning_permits') }}

)

select * exclude (_row_hash)
from typed
where permit_no is not null
{{ cs_latest_per('permit_no', 'updated_at') }}
