-- No raw personal data past the standard layer: phones and ID numbers only in masked form.
select 'stg_cgj__city_cases.reporter_phone' as failure, reporter_phone as value
from {{ ref('stg_cgj__city_cases') }}
where {{ cs_regexp_matches('reporter_phone', '[0-9]{5}') }}

union all

select 'theme_city_cases__case.reporter_phone', reporter_phone
from {{ ref('theme_city_cases__case') }}
where {{ cs_regexp_matches('reporter_phone', '[0-9]{5}') }}

union all

select 'base_legal_entity.legal_person_id', legal_person_id
from {{ ref('base_legal_entity') }}
where {{ cs_regexp_matches('legal_person_id', '[0-9]{7}') }}

union all

select 'base_legal_entity.legal_person_name', legal_person_name
from {{ ref('base_legal_entity') }}
where length(legal_person_name) > 1 and not {{ cs_regexp_matches('legal_person_name', '\\*') }}
