{#- Engine-specific SQL of the project's macros (docs/spark.md), chosen by adapter.dispatch: dbt-duckdb (the
    default engine, 嵌入式) renders the duckdb__ variant, dbt-spark the spark__ one. The DuckDB variants are the
    project's original SQL, unchanged; a Spark variant must give the same values for the same input (tests/spark).
    Where no portable SQL exists, default__ names the missing variant instead of emitting SQL an engine rejects. -#}

{% macro cs_unsupported(name) -%}
    {{ exceptions.raise_compiler_error("cityshare: macro " ~ name ~ " has no variant for adapter '" ~ target.type ~ "' (dbt_project/macros/cross_engine.sql)") }}
{%- endmacro %}

{#- Timestamp from the usual export formats (strftime patterns as DuckDB writes them); NULL when unparseable. -#}
{% macro cs_try_strptime(expr, formats) -%}
    {{ return(adapter.dispatch('cs_try_strptime', 'cityshare')(expr, formats)) }}
{%- endmacro %}

{% macro duckdb__cs_try_strptime(expr, formats) -%}
    try_strptime({{ expr }}, [{% for f in formats %}'{{ f }}'{{ ", " if not loop.last }}{% endfor %}])
{%- endmacro %}

{#- Spark's datetime patterns: one letter accepts one or two digits, as DuckDB's %m/%d/%H/%M/%S do between
    separators; a pattern without separators needs the fixed widths. -#}
{% macro spark__cs_try_strptime(expr, formats) -%}
    {%- set patterns = [] -%}
    {%- for f in formats -%}
        {%- set fixed = '%Y%m%d' in f -%}
        {%- set p = f | replace('%Y', 'yyyy')
                      | replace('%m', 'MM' if fixed else 'M') | replace('%d', 'dd' if fixed else 'd')
                      | replace('%H', 'HH' if fixed else 'H') | replace('%M', 'mm' if fixed else 'm')
                      | replace('%S', 'ss' if fixed else 's')
                      | replace('年', "''年''") | replace('月', "''月''") | replace('日', "''日''") -%}
        {%- if '%' in p -%}{{ cs_unsupported('cs_try_strptime(' ~ f ~ ')') }}{%- endif -%}
        {%- do patterns.append("try_to_timestamp(" ~ expr ~ ", '" ~ p ~ "')") -%}
    {%- endfor -%}
    coalesce({{ patterns | join(', ') }})
{%- endmacro %}

{% macro default__cs_try_strptime(expr, formats) -%}{{ cs_unsupported('cs_try_strptime') }}{%- endmacro %}

{#- Whole-string regular-expression match. -#}
{% macro cs_regexp_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('cs_regexp_full_match', 'cityshare')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__cs_regexp_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{#- Spark's string literals treat a backslash as an escape: each one is doubled. -#}
{% macro spark__cs_regexp_full_match(expr, pattern) -%}
    ({{ expr }} rlike '^(?:{{ pattern | replace('\\', '\\\\') }})$')
{%- endmacro %}

{% macro default__cs_regexp_full_match(expr, pattern) -%}{{ cs_unsupported('cs_regexp_full_match') }}{%- endmacro %}

{#- Whether ``pattern`` matches anywhere in the string (DuckDB's regexp_matches; Java's rlike finds, too). -#}
{% macro cs_regexp_matches(expr, pattern) -%}
    {{ return(adapter.dispatch('cs_regexp_matches', 'cityshare')(expr, pattern)) }}
{%- endmacro %}

{% macro duckdb__cs_regexp_matches(expr, pattern) -%}
    regexp_matches({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__cs_regexp_matches(expr, pattern) -%}
    ({{ expr }} rlike '{{ pattern | replace('\\', '\\\\') }}')
{%- endmacro %}

{% macro default__cs_regexp_matches(expr, pattern) -%}{{ cs_unsupported('cs_regexp_matches') }}{%- endmacro %}

{#- Every match replaced (``replacement`` refers to groups as \1, \2 as DuckDB does). ``anchored``: the pattern
    matches at most once (^…$), so DuckDB's first-match form is written, as the project always did. -#}
{% macro cs_regexp_replace_all(expr, pattern, replacement, anchored=false) -%}
    {{ return(adapter.dispatch('cs_regexp_replace_all', 'cityshare')(expr, pattern, replacement, anchored)) }}
{%- endmacro %}

{% macro duckdb__cs_regexp_replace_all(expr, pattern, replacement, anchored=false) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}'{{ "" if anchored else ", 'g'" }})
{%- endmacro %}

{#- Java's regexp_replace replaces every match and writes groups as $1. -#}
{% macro spark__cs_regexp_replace_all(expr, pattern, replacement, anchored=false) -%}
    regexp_replace({{ expr }}, '{{ pattern | replace('\\', '\\\\') }}', '{{ modules.re.sub('\\\\([0-9])', '$\\1', replacement) }}')
{%- endmacro %}

{% macro default__cs_regexp_replace_all(expr, pattern, replacement, anchored=false) -%}{{ cs_unsupported('cs_regexp_replace_all') }}{%- endmacro %}

{#- A number cast to BIGINT: DuckDB rounds half to even, Spark's cast truncates, so Spark rounds first (bround). -#}
{% macro cs_double_to_bigint(expr) -%}
    {{ return(adapter.dispatch('cs_double_to_bigint', 'cityshare')(expr)) }}
{%- endmacro %}

{% macro duckdb__cs_double_to_bigint(expr) -%}
    try_cast({{ expr }} as bigint)
{%- endmacro %}

{% macro spark__cs_double_to_bigint(expr) -%}
    try_cast(bround({{ expr }}) as bigint)
{%- endmacro %}

{% macro default__cs_double_to_bigint(expr) -%}
    {{ dbt.safe_cast("round(" ~ expr ~ ")", api.Column.translate_type('bigint')) }}
{%- endmacro %}

{#- Whole seconds from ``start`` to ``finish`` (timestamps); NULL when either is. -#}
{% macro cs_seconds_between(start, finish) -%}
    {{ return(adapter.dispatch('cs_seconds_between', 'cityshare')(start, finish)) }}
{%- endmacro %}

{% macro duckdb__cs_seconds_between(start, finish) -%}
    date_diff('second', {{ start }}, {{ finish }})
{%- endmacro %}

{% macro default__cs_seconds_between(start, finish) -%}
    {{ dbt.datediff(start, finish, 'second') }}
{%- endmacro %}

{#- as DOUBLE: the models divide by literals like 3600.0, which Spark reads as DECIMAL (a DECIMAL quotient with 6
    digits), where DuckDB's BIGINT / 3600.0 is a DOUBLE -#}
{% macro spark__cs_seconds_between(start, finish) -%}
    cast(timestampdiff(SECOND, {{ start }}, {{ finish }}) as double)
{%- endmacro %}

{#- The current code of a legacy GB/T 2260 county code (area_code_changes seed as chg, matched by ``where_expr``),
    followed by ``suffix`` when given; NULL when the code is not a legacy one. old_code is unique, but Spark accepts a
    correlated scalar subquery only when aggregated, and the aggregate may not mix outer and local columns. -#}
{% macro cs_changed_code(where_expr, suffix=none) -%}
    {{ return(adapter.dispatch('cs_changed_code', 'cityshare')(where_expr, suffix)) }}
{%- endmacro %}

{% macro duckdb__cs_changed_code(where_expr, suffix=none) -%}
    (select chg.new_code{{ ' || ' ~ suffix if suffix }} from {{ ref('area_code_changes') }} as chg where {{ where_expr }})
{%- endmacro %}

{% macro default__cs_changed_code(where_expr, suffix=none) -%}
    (select max(chg.new_code) from {{ ref('area_code_changes') }} as chg where {{ where_expr }}){{ ' || ' ~ suffix if suffix }}
{%- endmacro %}

{#- The project's record of processed batches (macros/incremental.sql): one statement per engine call (dbt-spark's
    session cursor runs one statement; the meta schema is created by cityshare.spark_engine before dbt runs).
    Partitioned by model: a Parquet table has no DELETE, so each model replaces its own partition
    (spark__cs_record_batches). -#}
{% macro spark__cs_seen_ddl() -%}
    create table if not exists meta.dbt_seen_batches (load_id string, model string) using parquet partitioned by (model)
{%- endmacro %}

{#- The incremental models' strategy and partitioning per engine (macros/incremental.sql, incremental_days.sql).
    DuckDB: the project's own (delete+insert by key, append after deleting the recomputed days), no partitions.
    Spark's Parquet tables have no row-level delete (dbt-spark's merge needs Delta, Iceberg or Hudi, whose jars are
    not part of pyspark), so there each incremental model is partitioned by one column, ``_cs_part`` (cs_partition_name),
    written last in its select list so the table's columns keep their order: a keyed model (delete+insert) becomes
    insert_overwrite — dynamic partition overwrite of the partitions its new rows fall in, with every kept row of those
    partitions selected again (spark__cs_merge_latest) —, and a day model stays append, its recomputed days' partitions
    dropped first (spark__cs_replace_days). Both give a full rebuild's rows (docs/spark.md). -#}
{% macro cs_incremental_strategy(strategy) -%}
    {{ return(adapter.dispatch('cs_incremental_strategy', 'cityshare')(strategy)) }}
{%- endmacro %}

{% macro default__cs_incremental_strategy(strategy) -%}
    {{ return(strategy) }}
{%- endmacro %}

{% macro spark__cs_incremental_strategy(strategy) -%}
    {{ return({'delete+insert': 'insert_overwrite'}.get(strategy, strategy)) }}
{%- endmacro %}

{#- The partition column of the Spark tables of incremental models: engine-internal (cityshare.lineage
    INTERNAL_COLUMNS), never compared, exported for the audit or published. -#}
{% macro cs_partition_name() -%}{{ return('_cs_part') }}{%- endmacro %}

{#- partition_by of an incremental model: none on DuckDB (no config at all, as before). -#}
{% macro cs_partition_by() -%}
    {{ return(adapter.dispatch('cs_partition_by', 'cityshare')()) }}
{%- endmacro %}

{% macro default__cs_partition_by() -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__cs_partition_by() -%}
    {{ return([cs_partition_name()]) }}
{%- endmacro %}

{#- The partition column as the last item of a day model's select list (``expr``: its day); nothing on DuckDB. -#}
{% macro cs_partition_column(expr) -%}
    {{ return(adapter.dispatch('cs_partition_column', 'cityshare')(expr)) }}
{%- endmacro %}

{% macro default__cs_partition_column(expr) -%}{%- endmacro %}

{% macro spark__cs_partition_column(expr) -%}
    , {{ expr }} as {{ cs_partition_name() }}
{%- endmacro %}

{#- The value of ``arg`` on the row with the largest (``extreme`` 'max') or smallest ('min') ``val``: DuckDB's
    arg_max/arg_min, Spark's max_by/min_by. -#}
{% macro cs_arg_by(extreme, arg, val) -%}
    {{ return(adapter.dispatch('cs_arg_by', 'cityshare')(extreme, arg, val)) }}
{%- endmacro %}

{% macro duckdb__cs_arg_by(extreme, arg, val) -%}
    arg_{{ extreme }}({{ arg }}, {{ val }})
{%- endmacro %}

{% macro default__cs_arg_by(extreme, arg, val) -%}
    {{ extreme }}_by({{ arg }}, {{ val }})
{%- endmacro %}

{#- The text type of casts: DuckDB's varchar; Spark's varchar needs a length, its unbounded text type is string. -#}
{% macro cs_text() -%}
    {{ return(adapter.dispatch('cs_text', 'cityshare')()) }}
{%- endmacro %}

{% macro duckdb__cs_text() -%}varchar{%- endmacro %}

{% macro default__cs_text() -%}string{%- endmacro %}

{#- The rows of ``relations`` (refs) under one column list, columns matched by name in order of first appearance,
    NULL where a relation lacks one (DuckDB's union all by name). Spark has no SQL form: the columns are listed. -#}
{% macro cs_union_all_by_name(relations) -%}
    {{ return(adapter.dispatch('cs_union_all_by_name', 'cityshare')(relations)) }}
{%- endmacro %}

{% macro duckdb__cs_union_all_by_name(relations) -%}
    {%- for rel in relations %}
    select * from {{ rel }}
    {%- if not loop.last %}
    union all by name{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro default__cs_union_all_by_name(relations) -%}
    {%- if not execute -%}
        {{ return('select * from ' ~ relations[0]) }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- set by_rel = [] -%}
    {%- for rel in relations -%}
        {%- set cols = adapter.get_columns_in_relation(rel) | map(attribute='name') | list -%}
        {%- do by_rel.append(cols) -%}
        {%- for c in cols if c not in names -%}{%- do names.append(c) -%}{%- endfor -%}
    {%- endfor -%}
    {%- for i in range(relations | length) %}
    select {% for c in names %}{% if c in by_rel[i] %}{{ adapter.quote(c) }}{% else %}null as {{ adapter.quote(c) }}{% endif %}
        {{- ", " if not loop.last }}{% endfor %} from {{ relations[i] }}
    {%- if i < relations | length - 1 %}
    union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{#- A select list of every column of ``relation`` but ``exclude``, with ``rename`` (old → new) applied (DuckDB's
    ``* exclude (…) rename (…)``). -#}
{% macro cs_star(relation, exclude=[], rename={}) -%}
    {{ return(adapter.dispatch('cs_star', 'cityshare')(relation, exclude, rename)) }}
{%- endmacro %}

{% macro duckdb__cs_star(relation, exclude=[], rename={}) -%}
    *{% if exclude %} exclude ({{ exclude | join(', ') }}){% endif %}
    {%- if rename %} rename ({% for old, new in rename.items() %}{{ old }} as {{ new }}{{ ", " if not loop.last }}{% endfor %}){% endif %}
{%- endmacro %}

{% macro default__cs_star(relation, exclude=[], rename={}) -%}
    {%- if not execute -%}{{ return('*') }}{%- endif -%}
    {%- for c in adapter.get_columns_in_relation(relation) | map(attribute='name') if c not in exclude -%}
        {{ adapter.quote(c) }}{% if c in rename %} as {{ rename[c] }}{% endif %}{{ ", " if not loop.last }}
    {%- endfor -%}
{%- endmacro %}

{#- ``left join`` of ``relation`` as ``alias``: per left row, the right row of the same ``key`` with the latest
    ``right_time`` not after ``left_time`` (DuckDB's asof left join; right_time unique per key). Spark has no asof
    join: each right row holds until the next one of its key. -#}
{% macro cs_asof_left_join(relation, alias, key, left_key, left_time, right_time) -%}
    {{ return(adapter.dispatch('cs_asof_left_join', 'cityshare')(relation, alias, key, left_key, left_time, right_time)) }}
{%- endmacro %}

{% macro duckdb__cs_asof_left_join(relation, alias, key, left_key, left_time, right_time) -%}
    asof left join {{ relation }} as {{ alias }}
        on {{ alias }}.{{ key }} = {{ left_key }}
        and {{ left_time }} >= {{ alias }}.{{ right_time }}
{%- endmacro %}

{% macro default__cs_asof_left_join(relation, alias, key, left_key, left_time, right_time) -%}
    left join (
        select *, lead({{ right_time }}) over (partition by {{ key }} order by {{ right_time }}) as _cs_asof_until
        from {{ relation }}
    ) as {{ alias }}
        on {{ alias }}.{{ key }} = {{ left_key }}
        and {{ left_time }} >= {{ alias }}.{{ right_time }}
        and ({{ alias }}._cs_asof_until is null or {{ left_time }} < {{ alias }}._cs_asof_until)
{%- endmacro %}
