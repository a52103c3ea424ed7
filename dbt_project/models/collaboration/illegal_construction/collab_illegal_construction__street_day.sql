-- Scenario dataset 违建搭建执法: per street and day of discovery, illegal-construction leads by source, their permit check,
-- filing and demolition, beside the street's valid permits (collaboration layer / 协同专题库).

with leads as (

    select * from {{ ref('theme_construction__illegal_lead') }}
    where street_code is not null and discovered_on is not null

),

permits as (

    select
        street_code,
        count(*) filter (where permit_kind = 'planning')        as valid_planning_permits,
        count(*) filter (where permit_kind = 'construction')    as active_construction_permits
    from {{ ref('collab_illegal_construction__permits') }}
    group by street_code

)

select
    l.street_code,
    l.discovered_on                                     as stat_date,
    any_value(s.street_name)                            as street_name,
    any_value(l.area_code)                              as area_code,
    count(*)::bigint                                    as leads,
    round(sum(l.area_m2), 1)::double                    as area_m2,
    count(*) filter (where l.lead_source = '卫片执法')::bigint   as satellite_leads,
    count(*) filter (where l.lead_source = '群众举报')::bigint   as public_leads,
    count(*) filter (where l.lead_source = '网格巡查')::bigint   as grid_leads,
    count(*) filter (where l.lead_source = '数字城管')::bigint   as city_case_leads,
    count(*) filter (where l.violation_kind = '超出规划许可')::bigint     as beyond_permit,
    count(*) filter (where l.violation_kind = '许可证号无法核实')::bigint  as permit_unverified,
    count(*) filter (where l.is_filed)::bigint          as filed,
    count(*) filter (where l.is_demolished)::bigint     as demolished,
    coalesce(any_value(p.valid_planning_permits), 0)::bigint       as valid_planning_permits,
    coalesce(any_value(p.active_construction_permits), 0)::bigint  as active_construction_permits
from leads as l
left join permits as p
    on p.street_code = l.street_code
left join {{ ref('base_streets') }} as s
    on s.street_code = l.street_code
group by l.street_code, l.discovered_on
