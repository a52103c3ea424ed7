-- theme_city_cases__case (published): case_id unique and not null; street_code in base_streets;
-- handling_hours set exactly for closed cases with a closing time.
select 'case_id null' as failure, case_id
from {{ ref('theme_city_cases__case') }}
where case_id is null

union all

select 'case_id duplicated', case_id
from {{ ref('theme_city_cases__case') }}
group by case_id
having count(*) > 1

union all

select 'street_code not in base_streets', c.case_id
from {{ ref('theme_city_cases__case') }} as c
left join {{ ref('base_streets') }} as s on s.street_code = c.street_code
where c.street_code is not null and s.street_code is null

union all

select 'handling_hours inconsistent with is_closed', case_id
from {{ ref('theme_city_cases__case') }}
where (handling_hours is not null and not is_closed)
    or (is_closed and closed_at is not null and handling_hours is null)
