-- Illegal-construction leads (规划和自然资源局) checked against planning permits and the street's construction permits (theme layer / 主题库).

select
    r.report_id,
    r.lead_source,
    r.area_code,
    r.street_code,
    s.street_name,
    r.area_m2,
    r.structure_type,
    r.discovered_on,
    r.status,
    r.status = '已拆除'                                 as is_demolished,
    r.status in ('已立案', '整改中', '已拆除')          as is_filed,
    r.planning_permit_no,
    p.permit_no is not null                             as permit_found,
    p.status                                            as permit_status,
    -- a lead citing a permit concerns building beyond it (超出许可); without one, building without a permit (无证建设)
    case
        when r.planning_permit_no is null then '无证建设'
        when p.permit_no is null then '许可证号无法核实'
        else '超出规划许可'
    end                                                 as violation_kind
from {{ ref('stg_ghzrj__illegal_construction_reports') }} as r
left join {{ ref('stg_ghzrj__planning_permits') }} as p
    on p.permit_no = r.planning_permit_no
left join {{ ref('base_streets') }} as s
    on s.street_code = r.street_code
