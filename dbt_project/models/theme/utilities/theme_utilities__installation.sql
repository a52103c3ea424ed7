-- Joint utility installations (水电气讯) with the duration of each stage in hours (theme layer / 主题库).
-- Stages: 申请→受理 (accept), 受理→踏勘 (survey), 踏勘→审批 (approve), 审批→外线施工 (build), 施工→接通 (connect).

select
    a.application_id,
    a.utility_type,
    a.provider,
    a.applicant_uscc,
    le.entity_name                                      as applicant_registered_name,
    a.area_code,
    a.street_code,
    a.applied_at,
    cast(a.applied_at as date)                          as applied_on,
    a.accepted_at,
    a.surveyed_at,
    a.approved_at,
    a.built_at,
    a.connected_at,
    a.status,
    a.connected_at is not null                          as is_connected,
    {{ cs_seconds_between('a.applied_at', 'a.accepted_at') }} / 3600.0   as accept_hours,
    {{ cs_seconds_between('a.accepted_at', 'a.surveyed_at') }} / 3600.0  as survey_hours,
    {{ cs_seconds_between('a.surveyed_at', 'a.approved_at') }} / 3600.0  as approve_hours,
    {{ cs_seconds_between('a.approved_at', 'a.built_at') }} / 3600.0     as build_hours,
    {{ cs_seconds_between('a.built_at', 'a.connected_at') }} / 3600.0    as connect_hours,
    {{ cs_seconds_between('a.applied_at', 'a.connected_at') }} / 3600.0  as total_hours
from {{ ref('stg_sdqx__installation_applications') }} as a
left join {{ ref('base_legal_entity') }} as le
    on le.uscc = a.applicant_uscc
where a.applied_at is not null
