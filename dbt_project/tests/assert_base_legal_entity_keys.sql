-- base_legal_entity (published): uscc unique and not null; street_code in base_streets.
select 'uscc null' as failure, uscc
from {{ ref('base_legal_entity') }}
where uscc is null

union all

select 'uscc duplicated', uscc
from {{ ref('base_legal_entity') }}
group by uscc
having count(*) > 1

union all

select 'street_code not in base_streets', e.uscc
from {{ ref('base_legal_entity') }} as e
left join {{ ref('base_streets') }} as s on s.street_code = e.street_code
where e.street_code is not null and s.street_code is null
