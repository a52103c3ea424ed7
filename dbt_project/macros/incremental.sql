{#- Incremental event models (issue #5): a next-day build reads only the raw batches the target has not
    seen and merges them in, with exactly the result of a full rebuild.

    Why this is exact: a raw view (cityshare.warehouse.refresh_raw_view) holds the latest accepted batch of
    every load date, so batches are only added — except when a load date is gated again, whose newer batch
    then replaces the older one. cs_latest_per is a maximum over a total order (_load_date, _batch_seq, _row_hash), so
    "latest of (target's winner, new rows)" per key equals "latest of all rows"; the target therefore keeps
    _row_hash. When a batch the model processed has left the raw view, cs_incremental_reset empties the
    target and every batch is read again. A change of the model's SQL or of a seed it maps codes with (area codes)
    needs `dbt build --full-refresh`; a changed column list fails the build until then (on_schema_change).

    Usage in a standard model (key = its cs_latest_per key, also the unique_key):
        config(materialized='incremental', incremental_strategy=cs_incremental_strategy('delete+insert'),
               partition_by=cs_partition_by(), unique_key=[...],
               on_schema_change='fail', pre_hook="{{ cs_incremental_reset(source('raw', '<table>')) }}",
               post_hook="{{ cs_record_batches(source('raw', '<table>')) }}")
        ... from source('raw', '<table>') where {{ cs_unseen_batches(source('raw', '<table>')) }} ...
        {{ cs_merge_latest('final', '<key columns>'[, '<order_first>'][, partition='<day column the key fixes>']) }}
    (cs_incremental_strategy and cs_partition_by: Spark's form, docs/spark.md; on DuckDB as written.)
-#}

{#- The load ids a model has processed, one row per (model, load id): recorded by cs_record_batches after
    each build of the model. Not the load ids of the rows the table holds: a registry's newer snapshot
    supersedes every row of the older ones, whose batches would otherwise look unseen and be read again
    every day. Created once per run by the project's on-run-start hook: models built side by side creating it
    at the same moment would conflict. -#}
{% macro cs_seen_ddl() -%}
    {{ return(adapter.dispatch('cs_seen_ddl', 'cityshare')()) }}
{%- endmacro %}

{% macro default__cs_seen_ddl() -%}
    create schema if not exists meta;
    create table if not exists meta.dbt_seen_batches (model varchar, load_id varchar)
{%- endmacro %}

{#- The predicate selecting the raw rows to process. Full build: all. Incremental: the load ids the model
    has not processed yet, inlined as literals so the Parquet scan skips the other batches' row groups; all
    rows when a processed batch left the raw view (the reset hook has emptied the target). -#}
{% macro cs_unseen_batches(src) -%}
    {%- if not (execute and is_incremental()) -%}
        true
    {%- else -%}
        {#- One query answers both (gone batches, unseen load ids as SQL literals): each dbt run_query costs more
            Python than these small meta tables cost DuckDB. -#}
        {%- set row = run_query(cs_unseen_batches_sql(src)).rows[0] -%}
        {%- if row[0] > 0 -%}
            true {{ cs_batches_gone_marker() }}
        {%- elif row[1] is none -%}
            false
        {%- else -%}
            _load_id in ({{ row[1] }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- (batches gone from ``src``, the load ids the model has not processed as SQL literals 'a', 'b' or NULL). -#}
{% macro cs_unseen_batches_sql(src) -%}
    {{ return(adapter.dispatch('cs_unseen_batches_sql', 'cityshare')(src)) }}
{%- endmacro %}

{% macro default__cs_unseen_batches_sql(src) -%}
    {{ return("select (" ~ cs_gone_batches_sql(src) ~ "), string_agg(chr(39) || replace(load_id, chr(39), chr(39) || chr(39)) || chr(39), ', ' order by load_id)"
        ~ " from (" ~ cs_batches_sql(src)
        ~ " except select load_id from meta.dbt_seen_batches where model = '" ~ this.identifier ~ "')") }}
{%- endmacro %}

{#- Spark has no ordered string_agg: the literals are collected, sorted and joined; they take backslash escapes
    (Spark reads '' as two adjacent literals). -#}
{% macro spark__cs_unseen_batches_sql(src) -%}
    {{ return("select (" ~ cs_gone_batches_sql(src) ~ "), (select nullif(concat_ws(', ', array_sort(collect_list("
        ~ "concat(chr(39), replace(replace(load_id, chr(92), repeat(chr(92), 2)), chr(39), concat(chr(92), chr(39))), chr(39))"
        ~ "))), '') from ("
        ~ cs_batches_sql(src)
        ~ " except select load_id from meta.dbt_seen_batches where model = '" ~ this.identifier ~ "') as unseen)") }}
{%- endmacro %}

{#- The load ids ``src`` holds now. A raw view's are the rows cityshare.warehouse.refresh_raw_view wrote with it
    into meta.raw_view_batches (a few rows, instead of a scan of every Parquet file of the view); a model's are
    read from the table itself. -#}
{% macro cs_batches_sql(src) -%}
    {%- if src.schema == 'raw' -%}
        select load_id from meta.raw_view_batches where raw_table = '{{ src.identifier }}'
    {%- else -%}
        select distinct _load_id as load_id from {{ src }} where _load_id is not null
    {%- endif -%}
{%- endmacro %}

{#- How many batches the model processed that its raw view no longer has (a load date gated again). -#}
{% macro cs_gone_batches_sql(src) -%}
    select count(*) from (
        select load_id from meta.dbt_seen_batches where model = '{{ this.identifier }}'
        except
        {{ cs_batches_sql(src) }}
    )
{%- endmacro %}

{#- Written into the compiled SQL by cs_unseen_batches when a processed batch is gone: the pre-hook reads the
    decision there instead of asking the warehouse again (one query per model and build). -#}
{% macro cs_batches_gone_marker() -%}
    /* cs: a processed batch left the raw view: target emptied, every batch read again */
{%- endmacro %}

{#- Pre-hook: empty the target when a batch it processed has left the raw view, so that batch's rows go
    (the model then reads every batch; on Spark TRUNCATE, as a Parquet table has no DELETE). Renders nothing on a full build, nor when no batch is gone: decided by
    cs_unseen_batches when the model compiled (hooks render after), since a delete guarded in SQL would
    still scan the whole target. ``src`` documents what the decision is about. -#}
{% macro cs_incremental_reset(src) -%}
    {%- if execute and is_incremental() and cs_batches_gone_marker() in (model.compiled_code or '') -%}
        {{ cs_empty_table(this) }}
    {%- endif -%}
{%- endmacro %}

{#- Every row of ``relation`` deleted. -#}
{% macro cs_empty_table(relation) -%}
    {{ return(adapter.dispatch('cs_empty_table', 'cityshare')(relation)) }}
{%- endmacro %}

{% macro default__cs_empty_table(relation) -%}
    delete from {{ relation }}
{%- endmacro %}

{% macro spark__cs_empty_table(relation) -%}
    truncate table {{ relation }}
{%- endmacro %}

{#- Post-hook: the model now reflects every batch of its raw view (views are fixed while dbt runs). -#}
{% macro cs_record_batches(src) -%}
    {{ return(adapter.dispatch('cs_record_batches', 'cityshare')(src)) }}
{%- endmacro %}

{#- On Spark meta.dbt_seen_batches is partitioned by model (spark__cs_seen_ddl): the model's partition is replaced
    (dynamic partition overwrite, set by cityshare.spark_engine, so models recording side by side do not meet). -#}
{% macro spark__cs_record_batches(src) -%}
    insert overwrite table meta.dbt_seen_batches partition (model)
    select load_id, '{{ this.identifier }}' as model from ({{ cs_batches_sql(src) }}) as batches
{%- endmacro %}

{% macro default__cs_record_batches(src) -%}
    delete from meta.dbt_seen_batches where model = '{{ this.identifier }}';
    insert into meta.dbt_seen_batches
    select '{{ this.identifier }}', load_id from ({{ cs_batches_sql(src) }})
{%- endmacro %}

{#- The model's result: on an incremental run the new rows compete with the target's current row of the
    same key (cs_latest_per with the same order_first as the model's own dedup, as in a full build);
    delete+insert on the key then replaces the losers. ``partition``: on Spark, a column of ``relation`` that the key
    determines (a day of the key's time), else a hash bucket of the key (spark__cs_merge_latest). -#}
{% macro cs_merge_latest(relation, key, order_first=none, partition=none) -%}
    {{ return(adapter.dispatch('cs_merge_latest', 'cityshare')(relation, key, order_first, partition)) }}
{%- endmacro %}

{% macro default__cs_merge_latest(relation, key, order_first=none, partition=none) -%}
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

{#- Spark (insert_overwrite on the partition column _cs_part, cs_partition_by): the result holds every row of each
    partition its new rows fall in — those rows, competing with the target's row of the same key, and the target's
    other rows of those partitions, selected again —, and dynamic partition overwrite replaces exactly those
    partitions. The partition is a function of the key (``partition``, else one of 8 hash buckets of the key),
    so a key's current row is always in its new rows' partition: the partitions left alone hold only keys without
    new rows, and the table equals delete+insert's, a full rebuild's. Spark allows reading the partitions it
    overwrites only in dynamic mode (it writes to a staging folder first). -#}
{% macro spark__cs_merge_latest(relation, key, order_first=none, partition=none) -%}
    {%- set part = partition or ('pmod(xxhash64(' ~ key ~ '), 8)') -%}
    {%- if is_incremental() %}
select * from (
    select *, {{ part }} as {{ cs_partition_name() }} from {{ relation }}
    union all
    select held.* from {{ this }} as held
    where held.{{ cs_partition_name() }} in (select {{ part }} from {{ relation }})
) as merged
{{ cs_latest_per(key, order_first) }}
    {%- else %}
select *, {{ part }} as {{ cs_partition_name() }} from {{ relation }}
    {%- endif -%}
{%- endmacro %}
