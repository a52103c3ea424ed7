-- Chongqing streets / towns / townships with their county, statistical division codes (base layer / 基础库).

select
    s.code          as street_code,
    s.name          as street_name,
    s.area_code,
    a.area_name,
    case
        when s.name like '%街道' then '街道'
        when s.name like '%镇' then '镇'
        when s.name like '%乡' then '乡'
    end             as street_type
from {{ ref('chongqing_streets') }} as s
left join {{ ref('base_areas') }} as a
    on a.area_code = s.area_code
