{#- The two street offices (南坪街道 jd_nanping, 礼嘉街道 jd_lijia) deliver the same two datasets; their
    standard models share this SQL. -#}

{#- GB/T 30428.1 unit grid code (14 digits = 6 county + 3 street + 3 community + 2 grid) from a street's own
    grid number: 9-digit street code + 3-digit community + a grid sequence of 2 or 3 digits (3-digit
    sequences above 99 cannot be expressed and give NULL). 专属网格 use community segments 9xx (project
    convention: they sit across communities). -#}
{% macro cs_unit_grid_code(column) -%}
    case
        when {{ cs_regexp_full_match(cs_clean(column), '[0-9]{14}') }} then {{ cs_clean(column) }}
        when {{ cs_regexp_full_match(cs_clean(column), '[0-9]{12}0[0-9]{2}') }} then
            left({{ cs_clean(column) }}, 12) || right({{ cs_clean(column) }}, 2)
    end
{%- endmacro %}

{#- 网格员花名册: one row per (grid, worker) assignment; worker name/ID/phone masked, ID + phone tokenized. -#}
{% macro stg_grid_workers(dept) -%}
with typed as (

    select
        {{ cs_clean('grid_code') }}                     as source_grid_code,
        {{ cs_clean('grid_name') }}                     as grid_name,
        {{ cs_clean('grid_type') }}                     as grid_type,
        {{ cs_clean('community') }}                     as community,
        upper({{ cs_clean('worker_id') }})              as worker_id,
        {{ cs_clean('worker_name') }}                   as worker_name_raw,
        {{ cs_normalize_id_number('worker_id_number') }} as worker_id_number_raw,
        {{ cs_normalize_phone('worker_phone') }}        as worker_phone_raw,
        {{ cs_clean('role') }}                          as role,
        {{ cs_parse_date('joined_on') }}                as joined_on,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', dept ~ '__grid_workers') }}

),

-- the roster is a full snapshot each day: keep the latest day's copy of each assignment
latest as (

    select * from typed
    where source_grid_code is not null and worker_id is not null
    qualify row_number() over (
        partition by source_grid_code, worker_id
        order by _load_date desc nulls last, _batch_seq desc nulls last, _row_hash desc nulls last
    ) = 1

)

select
    '{{ dept }}'                                        as department,
    {{ cs_grid_code_columns() }},
    grid_name,
    grid_type,
    community,
    worker_id,
    cs_mask_person_name(worker_name_raw)                as worker_name,
    cs_mask_id_number(worker_id_number_raw)             as worker_id_number,
    cs_token(worker_id_number_raw)                      as worker_token,
    cs_mask_mobile(worker_phone_raw)                    as worker_phone,
    role,
    joined_on,
    _load_date = max(_load_date) over ()                as in_latest_roster,
    {{ cs_load_meta() }}
from latest
{%- endmacro %}

{#- 街道吹哨、部门报到 cases: one row per case (latest load wins), with the unit grid code. -#}
{% macro stg_street_cases(dept) -%}
with typed as (

    select
        upper({{ cs_clean('case_id') }})                as case_id,
        {{ cs_clean('grid_code') }}                     as source_grid_code,
        {{ cs_clean('category') }}                      as category,
        {{ cs_scrub_free_text('description') }}         as description,
        {{ cs_parse_timestamp('raised_at') }}           as raised_at,
        {{ cs_clean('department') }}                    as department,
        {{ cs_parse_timestamp('dispatched_at') }}       as dispatched_at,
        {{ cs_parse_timestamp('reported_at') }}         as reported_at,
        {{ cs_parse_timestamp('closed_at') }}           as closed_at,
        {{ cs_clean('status') }}                        as status,
        upper({{ cs_clean('whistler_id') }})            as whistler_id,
        _load_id, _loaded_at, _load_date, _source, _row_hash, _batch_seq
    from {{ source('raw', dept ~ '__street_cases') }}
    where {{ cs_unseen_batches(source('raw', dept ~ '__street_cases')) }}

),

final as (

    select
        '{{ dept }}'                                        as raised_by,
        case_id,
        {{ cs_grid_code_columns() }},
        category,
        description,
        raised_at,
        department,
        dispatched_at,
        reported_at,
        closed_at,
        status,
        whistler_id,
        {{ cs_load_meta() }},
        _row_hash
    from typed
    where case_id is not null
    {{ cs_latest_per('case_id') }}

)

{{ cs_merge_latest('final', 'case_id') }}
{%- endmacro %}

{#- A street's 9/12/14-digit codes from its own grid code (source_grid_code), for rosters and cases alike. -#}
{% macro cs_grid_code_columns() -%}
    {{ cs_unit_grid_code('source_grid_code') }}         as unit_grid_code,
    source_grid_code,
    left(source_grid_code, 9)                           as street_code,
    left(source_grid_code, 12)                          as community_code
{%- endmacro %}
