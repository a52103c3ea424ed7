-- Scenario dataset 水电气讯一站式联合报装: per provider and day of application, applications, progress and mean stage durations (hours) (collaboration layer / 协同专题库).

select
    a.utility_type,
    a.provider,
    a.applied_on                                        as stat_date,
    count(*)::bigint                                    as applications,
    count(a.accepted_at)::bigint                        as accepted,
    count(a.connected_at)::bigint                       as connected,
    round(avg(a.accept_hours), 2)::double               as mean_accept_hours,
    round(avg(a.survey_hours), 2)::double               as mean_survey_hours,
    round(avg(a.approve_hours), 2)::double              as mean_approve_hours,
    round(avg(a.build_hours), 2)::double                as mean_build_hours,
    round(avg(a.connect_hours), 2)::double              as mean_connect_hours,
    round(avg(a.total_hours), 2)::double                as mean_total_hours,
    any_value(slow.stage)                               as slowest_stage
from {{ ref('theme_utilities__installation') }} as a
-- the slowest stage of the provider's applications of the day (highest mean hours)
left join (
    select provider, utility_type, applied_on, {{ cs_arg_by('max', 'stage', 'mean_hours') }} as stage
    from (
        select provider, utility_type, applied_on, stage, stage_order, avg(hours) as mean_hours
        from {{ ref('collab_joint_utility__stages') }}
        group by all
    )
    group by all
) as slow
    on slow.provider = a.provider and slow.utility_type = a.utility_type and slow.applied_on = a.applied_on
group by a.utility_type, a.provider, a.applied_on
