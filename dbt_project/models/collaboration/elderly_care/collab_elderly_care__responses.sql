-- Task dataset (民政局 sensors → 网格员/志愿者/社区医生): each alert's response, its limit and whether it was met; no personal data (collaboration layer / 协同专题库).

select
    alert_id,
    alert_type,
    alert_type in ('紧急呼叫', '跌倒检测', '烟雾报警', '燃气泄漏')  as is_urgent,
    elder_id,
    care_level,
    street_code,
    community,
    unit_grid_code,
    alert_time,
    alert_date,
    responder,
    response_limit_minutes,
    response_minutes,
    responded_on_time
from {{ ref('theme_care__alert') }}
