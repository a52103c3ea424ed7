-- Scenario dataset 数字城管综合评价: per street and month, the GB/T 30428.4 indicators 处置率, 按期处置率, 结案率, 按期结案率,
-- 返工率 (percent), a composite score and grade A–E (A ≥ 90, B 75–90, C 60–75, D 40–60, E < 40) (collaboration layer / 协同专题库).
-- The indicators' composite weights are the seed evaluation_indicators (project rule, unverified; a higher instance
-- may pass its own down, docs/federation.md).

with counts as (

    select
        street_code,
        stat_month,
        any_value(area_code)                                    as area_code,
        count(*)                                                as cases,
        count(*) filter (where should_dispose)                  as should_dispose,
        count(*) filter (where should_dispose and disposed)     as disposed,
        count(*) filter (where should_dispose and disposed_on_time)  as disposed_on_time,
        count(*) filter (where should_close)                    as should_close,
        count(*) filter (where should_close and closed)         as closed,
        count(*) filter (where should_close and closed_on_time) as closed_on_time,
        count(*) filter (where should_close and reworked)       as reworked
    from {{ ref('collab_city_evaluation__case_flags') }}
    group by street_code, stat_month

),

rates as (

    select
        *,
        round(100.0 * disposed / nullif(should_dispose, 0), 2)          as disposal_rate,
        round(100.0 * disposed_on_time / nullif(should_dispose, 0), 2)  as on_time_disposal_rate,
        round(100.0 * closed / nullif(should_close, 0), 2)              as closure_rate,
        round(100.0 * closed_on_time / nullif(should_close, 0), 2)      as on_time_closure_rate,
        round(100.0 * reworked / nullif(should_close, 0), 2)            as rework_rate
    from counts

),

weights as (

    select
        max(weight) filter (where code = 'on_time_disposal_rate')  as w_on_time_disposal,
        max(weight) filter (where code = 'on_time_closure_rate')   as w_on_time_closure,
        max(weight) filter (where code = 'disposal_rate')          as w_disposal,
        max(weight) filter (where code = 'closure_rate')           as w_closure,
        max(weight) filter (where code = 'rework_rate')            as w_rework
    from {{ ref('evaluation_indicators') }}

),

scored as (

    select
        r.*,
        round(
            w.w_on_time_disposal * r.on_time_disposal_rate
            + w.w_on_time_closure * r.on_time_closure_rate
            + w.w_disposal * r.disposal_rate
            + w.w_closure * r.closure_rate
            + w.w_rework * (100 - r.rework_rate),
            2
        )                                                               as composite_score
    from rates as r
    cross join weights as w

)

select
    s.street_code,
    s.stat_month,
    st.street_name,
    s.area_code,
    a.area_name,
    s.cases::bigint                     as cases,
    s.should_dispose::bigint            as should_dispose,
    s.disposed::bigint                  as disposed,
    s.disposed_on_time::bigint          as disposed_on_time,
    s.should_close::bigint              as should_close,
    s.closed::bigint                    as closed,
    s.closed_on_time::bigint            as closed_on_time,
    s.reworked::bigint                  as reworked,
    s.disposal_rate::double             as disposal_rate,
    s.on_time_disposal_rate::double     as on_time_disposal_rate,
    s.closure_rate::double              as closure_rate,
    s.on_time_closure_rate::double      as on_time_closure_rate,
    s.rework_rate::double               as rework_rate,
    s.composite_score::double           as composite_score,
    {{ cs_grade('s.composite_score') }} as grade
from scored as s
left join {{ ref('base_streets') }} as st
    on st.street_code = s.street_code
left join {{ ref('base_areas') }} as a
    on a.area_code = s.area_code
