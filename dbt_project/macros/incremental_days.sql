{#- Day-partitioned incremental models (issue #5): aggregates and filters over event data in the theme and
    collaboration layers recompute only the days that new rows of their incremental standard model touch.

    Why this is exact: the standard model (macros/incremental.sql) only ever adds rows or replaces the row of a
    key, and its key determines the day (lot + time, device + time), so the rows that changed since this model
    last ran are exactly those whose _load_id it has not processed, and the days they fall on are the only days
    whose result can differ. The pre-hook deletes those days from the target, the model selects them again and
    dbt appends them (strategy append), so a day whose rows all stopped qualifying (a corrected GPS point that
    is no longer a violation) leaves no stale row behind. When the standard model was emptied and rebuilt (a
    load date gated again), a load id this model processed is gone from it, and every day is recomputed.
    Processed load ids are recorded per model in meta.dbt_seen_batches (cs_record_batches), as for staging.

    Usage (src = the incremental standard model, day = its day column; column = the target's day column):
        config(materialized='incremental', incremental_strategy='append', partition_by=cs_partition_by(),
               on_schema_change='fail', pre_hook="{{ cs_replace_days('<column>', ref('<src>'), '<day>') }}",
               post_hook="{{ cs_record_batches(ref('<src>')) }}")
        ... where {{ cs_in_new_days('<column in the select>', ref('<src>'), '<day>') }} ...
        select …, <last column>{{ cs_partition_column('<the day>') }}   (Spark's partition column; nothing on DuckDB)
    A model joining attributes that can change without a new event row (a registry) passes ``also`` — a
    predicate on the same rows selecting them again, see theme_parking__lot_day. -#}

{#- The days with rows this model has not processed, as a list of 'YYYY-MM-DD' strings; none = every day
    (a full build, or the source model was rebuilt from scratch). Rendered at run time only. Asked once per model
    and build: the model's SQL records the answer in a marker comment (cs_days_marker), and the pre-hook, rendered
    after the model compiled, reads it there — the same decision, one query fewer on the daily path. -#}
{% macro cs_new_days(src, day) -%}
    {%- if not (execute and is_incremental()) -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set recorded = cs_marker_value(cs_days_marker()) -%}
    {%- if recorded is not none -%}
        {{ return(none if recorded == 'all' else recorded.split(',') | reject('equalto', '') | list) }}
    {%- endif -%}
    {#- one query: (gone batches, the new rows' days as 'YYYY-MM-DD,...') -#}
    {%- set row = run_query(cs_new_days_sql(src, day)).rows[0] -%}
    {%- if row[0] > 0 -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return((row[1] or '').split(',') | reject('equalto', '') | list) }}
{%- endmacro %}

{% macro cs_new_days_sql(src, day) -%}
    {{ return(adapter.dispatch('cs_new_days_sql', 'cityshare')(src, day)) }}
{%- endmacro %}

{% macro default__cs_new_days_sql(src, day) -%}
    {{ return("select (" ~ cs_gone_batches_sql(src) ~ "), (select string_agg(distinct strftime(" ~ day ~ ", '%Y-%m-%d'), ','"
        ~ " order by strftime(" ~ day ~ ", '%Y-%m-%d')) from " ~ src ~ " where _load_id in ("
        ~ cs_batches_sql(src)
        ~ " except select load_id from meta.dbt_seen_batches where model = '" ~ this.identifier ~ "'))") }}
{%- endmacro %}

{% macro spark__cs_new_days_sql(src, day) -%}
    {{ return("select (" ~ cs_gone_batches_sql(src) ~ "), (select concat_ws(',', array_sort(collect_set(date_format("
        ~ day ~ ", 'yyyy-MM-dd')))) from " ~ src ~ " where _load_id in ("
        ~ cs_batches_sql(src)
        ~ " except select load_id from meta.dbt_seen_batches where model = '" ~ this.identifier ~ "'))") }}
{%- endmacro %}

{#- The days to recompute, given the new rows' ``days`` (none: all) and the model's ``also`` predicate. DuckDB
    deletes the rows ``also`` selects, on any day. Spark drops whole day partitions (spark__cs_replace_days), so
    there a model whose ``also`` selects any row (a registry attribute changed) recomputes every day: exact, and
    only as costly as a full build on the days a registry changes. -#}
{% macro cs_partition_days(days, also) -%}
    {{ return(adapter.dispatch('cs_partition_days', 'cityshare')(days, also)) }}
{%- endmacro %}

{% macro default__cs_partition_days(days, also) -%}
    {{ return(days) }}
{%- endmacro %}

{% macro spark__cs_partition_days(days, also) -%}
    {%- if also and not (also | trim).startswith('false') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(days) }}
{%- endmacro %}

{#- Marker comments in a model's compiled SQL (its decisions, for its pre-hook) and the value of one: the text
    between the marker's start and the next ' */', or none when the compiled SQL (not yet there while the model
    itself compiles) has no such marker. -#}
{% macro cs_days_marker() %}/* cs_new_days: {% endmacro %}
{% macro cs_keys_marker(key) %}/* cs_changed_keys {{ key }}: {% endmacro %}
{% macro cs_marker_value(marker) -%}
    {%- set code = model.compiled_code or '' -%}
    {%- if marker not in code -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(code.split(marker, 1)[1].split(' */', 1)[0]) }}
{%- endmacro %}

{#- The predicate on ``column`` selecting the days to (re)compute, or-ed with ``also`` when given. -#}
{% macro cs_in_new_days(column, src, day, also=none) -%}
    {%- set days = cs_partition_days(cs_new_days(src, day), also) -%}
    {%- if days is none -%}
        true {{ cs_days_marker() }}all */
    {%- else -%}
        ({%- if days | length > 0 -%}
            {{ column }} in ({% for d in days %}date '{{ d }}'{{ ", " if not loop.last }}{% endfor %})
        {%- else -%}
            false
        {%- endif -%}
        {%- if also %} or ({{ also }}){% endif -%}) {{ cs_days_marker() }}{{ days | join(',') }} */
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook: delete the days about to be recomputed (nothing on a full build, which creates the table). -#}
{% macro cs_replace_days(column, src, day, also=none) -%}
    {{ return(adapter.dispatch('cs_replace_days', 'cityshare')(column, src, day, also)) }}
{%- endmacro %}

{#- Spark: the days' partitions (cs_partition_column) dropped, every partition when every day is recomputed. -#}
{% macro spark__cs_replace_days(column, src, day, also=none) -%}
    {%- if is_incremental() -%}
        {%- set days = cs_partition_days(cs_new_days(src, day), also) -%}
        {%- if days is none -%}
            {{ cs_empty_table(this) }}
        {%- elif days -%}
            alter table {{ this }} drop if exists
            {%- for d in days %} partition ({{ cs_partition_name() }} = '{{ d }}'){{ "," if not loop.last }}{% endfor %}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro default__cs_replace_days(column, src, day, also=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ cs_in_new_days(column, src, day, also) }}
    {%- endif -%}
{%- endmacro %}

{#- A predicate selecting the rows of keys whose attributes changed without a new event row: ``current`` is a
    relation giving ``key`` and ``columns`` as the model now joins them (a registry's latest row); a key counts
    when the target holds it with other values. Compared with EXCEPT, so nulls are equal. Evaluated once, when
    the model compiles, as literals, which its SQL records for the pre-hook (cs_keys_marker): the pre-hook deletes
    those rows before the model reads them again. ``false`` on a full build or when nothing changed. -#}
{% macro cs_changed_keys(column, key, columns, current) -%}
    {%- if not (execute and is_incremental()) -%}
        false
    {%- else -%}
        {%- set recorded = cs_marker_value(cs_keys_marker(key)) -%}
        {%- if recorded is not none -%}
            {%- set literals = recorded -%}
        {%- else -%}
            {%- set keys = run_query(
                "select distinct " ~ key ~ " from (select " ~ key ~ ", " ~ columns ~ " from " ~ current ~ " as cur"
                ~ " semi join " ~ this ~ " as t using (" ~ key ~ ")"
                ~ " except select distinct " ~ key ~ ", " ~ columns ~ " from " ~ this ~ ") order by 1"
            ).columns[0].values() | reject('none') | list -%}
            {#- as SQL string literals: 'a', 'b' -#}
            {%- set literals = ("'" ~ (keys | map('replace', "'", "''") | join("', '")) ~ "'") if keys else '' -%}
        {%- endif -%}
        {%- if literals == '' -%}
            false
        {%- else -%}
            {{ column }} in ({{ literals }})
        {%- endif -%}
        {#- the keys for the pre-hook, unless one could open or end a comment (DuckDB nests them; the pre-hook then
            asks again) -#}
        {%- if recorded is none and '*/' not in literals and '/*' not in literals -%}
            {{ ' ' ~ cs_keys_marker(key) ~ literals }} */
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
