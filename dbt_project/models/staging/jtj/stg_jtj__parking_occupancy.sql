-- Parking occupancy counts from 交通局's smart-parking feed (every 30 min): typed, one row per (lot, time) (standard layer / 标准库).

with typed as (

    select
        upper({{ cs_clean('lot_id') }})                 as lot_id,
        {{ cs_parse_timestamp('observed_at') }}         as observed_at,
        {{ cs_parse_int('occupied') }}                  as occupied,
        {{ cs_parse_int('free') }}                      as free,
        {{ cs_parse_int('total') }}                     as total,
        _load_id, _loaded_at, _load_date, _source, _row_hash
    from {{ source('raw', 'jtj__parking_occupancy') }}

)

select
    lot_id,
    observed_at,
    cast(observed_at as date)                           as observed_date,
    occupied,
    free,
    total,
    {{ cs_load_meta() }}
from typed
where lot_id is not null and observed_at is not null
{{ cs_latest_per('lot_id, observed_at') }}
