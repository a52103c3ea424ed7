-- Legal entities (market entities), one row per USCC with area/street names; legal person masked (base layer / 基础库).

select
    e.uscc,
    e.entity_name,
    e.entity_type,
    e.industry,
    e.legal_person_name,
    e.legal_person_id,
    e.legal_person_token,
    e.area_code,
    a.area_name,
    e.street_code,
    s.street_name,
    e.address,
    e.registered_on,
    e.status,
    e.updated_at
from {{ ref('stg_scjgj__business_registry') }} as e
left join {{ ref('base_areas') }} as a
    on a.area_code = e.area_code
left join {{ ref('base_streets') }} as s
    on s.street_code = e.street_code
