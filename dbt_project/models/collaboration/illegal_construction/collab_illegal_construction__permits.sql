-- Task dataset (规划和自然资源局 + 住建委): valid planning permits and construction permits per street, the legal baseline enforcement checks against (collaboration layer / 协同专题库).

select 'planning' as permit_kind, permit_no, area_code, street_code, issued_on, status, builder_uscc
from {{ ref('stg_ghzrj__planning_permits') }}
where status in ('有效', '已变更')

union all

select 'construction', permit_no, area_code, street_code, issued_on, status, builder_uscc
from {{ ref('stg_zjw__construction_permits') }}
where status in ('已发证', '在建')
