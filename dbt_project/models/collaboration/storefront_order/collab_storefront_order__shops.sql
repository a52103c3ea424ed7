-- Task dataset (市场监管局): registered street-front shops — operating (存续) catering/retail entities per street (collaboration layer / 协同专题库).

select
    e.uscc,
    e.entity_name,
    e.industry,
    e.street_code,
    e.area_code,
    e.registered_on
from {{ ref('base_legal_entity') }} as e
where e.status = '存续'
    and e.industry in ('餐饮', '零售')
    and e.street_code is not null
