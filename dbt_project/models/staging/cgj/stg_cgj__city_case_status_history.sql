-- Status of each 数字城管 case as delivered in each load (standard layer / 标准库): the workflow history the
-- daily exports reveal, used to find cases sent back for rework (返工: a later load shows an earlier stage).

with typed as (

    select
        upper({{ cs_clean('case_id') }})                as case_id,
        {{ cs_clean('status') }}                        as status,
        _load_date,
        _batch_seq,
        _row_hash
    from {{ source('raw', 'cgj__city_cases') }}

)

select
    case_id,
    _load_date                                          as load_date,
    status,
    -- workflow order (GB/T 30428: 上报 → 立案 → 派遣 → 处置 → 核查 → 结案); 作废 ends outside it
    case status when '上报' then 1 when '立案' then 2 when '派遣' then 3 when '处置' then 4
        when '核查' then 5 when '结案' then 6 end      as stage_order
from typed
where case_id is not null and _load_date is not null
qualify row_number() over (partition by case_id, _load_date order by _batch_seq desc nulls last, _row_hash desc) = 1
