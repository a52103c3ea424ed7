-- Scenario dataset 高龄独居老人关爱: per community and day, the elders in care, sensor alerts and how fast they were answered (collaboration layer / 协同专题库).

with elders as (

    select
        street_code,
        community,
        count(*)                                        as elders,
        count(*) filter (where sensor_installed)        as elders_with_sensor
    from {{ ref('stg_mzj__elderly_living_alone') }}
    group by street_code, community

),

days as (

    select distinct alert_date from {{ ref('collab_elderly_care__responses') }}

),

alerts as (

    select
        street_code,
        community,
        alert_date,
        count(*)                                        as alerts,
        count(*) filter (where is_urgent)               as urgent_alerts,
        count(response_minutes)                         as responded,
        count(*) filter (where responded_on_time)       as responded_on_time,
        avg(response_minutes)                           as mean_response_minutes,
        count(*) filter (where responder = '网格员')    as grid_worker_responses
    from {{ ref('collab_elderly_care__responses') }}
    group by street_code, community, alert_date

)

select
    e.street_code,
    coalesce(c.community_code, e.street_code || '000')  as community_code,
    e.community                                         as community_name,
    d.alert_date                                        as stat_date,
    e.elders::bigint                                    as elders,
    e.elders_with_sensor::bigint                        as elders_with_sensor,
    coalesce(a.alerts, 0)::bigint                       as alerts,
    coalesce(a.urgent_alerts, 0)::bigint                as urgent_alerts,
    coalesce(a.responded, 0)::bigint                    as responded,
    coalesce(a.responded_on_time, 0)::bigint            as responded_on_time,
    case when a.alerts > 0 then round(100.0 * a.responded_on_time / a.alerts, 2) end::double  as on_time_rate,
    round(a.mean_response_minutes, 1)::double           as mean_response_minutes,
    coalesce(a.grid_worker_responses, 0)::bigint        as grid_worker_responses
from elders as e
cross join days as d
left join alerts as a
    on a.street_code = e.street_code and a.community = e.community and a.alert_date = d.alert_date
left join {{ ref('base_communities') }} as c
    on c.street_code = e.street_code and c.community_name = e.community
