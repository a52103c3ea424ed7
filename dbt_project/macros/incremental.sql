{#- Incremental event models (issue #5): a next-day build reads only the raw batches the target has not
    seen and merges them in, with exactly the result of a full rebuild.

    Why this is exact: a raw view (cityshare.warehouse.refresh_raw_view) holds the latest accepted batch of
    every load date, so batches are only added — except when a load date is gated again, whose newer batch
    then replaces the older one. cs_latest_per is a maximum over a total order (_loaded_at, _row_hash), so
    "latest of (target's winner, new rows)" per key equals "latest of all rows"; the target therefore keeps
    _row_hash. When a batch the target holds has left the raw view, cs_incremental_reset empties the target
    and every batch is read again. A change of the model's SQL or of a seed it maps codes with (area codes)
    needs `dbt build --full-refresh`; a changed column list fails the build until then (on_schema_change).

    Usage in a standard model (key = its cs_latest_per key, also the unique_key):
        config(materialized='incremental', incremental_strategy='delete+insert', unique_key=[...],
               on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', '<table>')) }}")
        ... from source('raw', '<table>') where {{ cs_unseen_batches(source('raw', '<table>')) }} ...
        {{ cs_merge_latest('final', '<key columns>'[, '<order_first>']) }}
-#}

{#- The predicate selecting the raw rows to process. Full build: all. Incremental: the load ids the target
    does not hold yet, inlined as literals so the Parquet scan skips the other batches' row groups; all rows
    when a held batch left the raw view (the reset hook has emptied the target). -#}
{% macro cs_unseen_batches(src) -%}
    {%- if not (execute and is_incremental()) -%}
        true
    {%- else -%}
        {%- set gone = run_query(cs_gone_batches_sql(src)).columns[0].values()[0] -%}
        {%- if gone > 0 -%}
            true
        {%- else -%}
            {%- set unseen = run_query(
                "select distinct _load_id from " ~ src ~ " where _load_id is not null"
                ~ " except select distinct _load_id from " ~ this ~ " order by 1"
            ).columns[0].values() -%}
            {%- if unseen | length == 0 -%}
                false
            {%- else -%}
                _load_id in ({% for load_id in unseen %}'{{ load_id | replace("'", "''") }}'{{ ", " if not loop.last }}{% endfor %})
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- How many batches the target holds that its raw view no longer has (a load date gated again). -#}
{% macro cs_gone_batches_sql(src) -%}
    select count(*) from (
        select distinct _load_id from {{ this }}
        except
        select distinct _load_id from {{ src }}
    )
{%- endmacro %}

{#- Pre-hook: empty the target when a batch it holds has left the raw view, so that batch's rows go
    (the model then reads every batch, see cs_unseen_batches). Renders nothing on a full build. -#}
{% macro cs_incremental_reset(src) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where ({{ cs_gone_batches_sql(src) }}) > 0
    {%- endif -%}
{%- endmacro %}

{#- The model's result: on an incremental run the new rows compete with the target's current row of the
    same key (cs_latest_per with the same order_first as the model's own dedup, as in a full build);
    delete+insert on the key then replaces the losers. -#}
{% macro cs_merge_latest(relation, key, order_first=none) -%}
    {%- if is_incremental() %}
select * from (
    select * from {{ relation }}
    union all by name
    select held.* from {{ this }} as held semi join {{ relation }} using ({{ key }})
)
{{ cs_latest_per(key, order_first) }}
    {%- else %}
select * from {{ relation }}
    {%- endif -%}
{%- endmacro %}
