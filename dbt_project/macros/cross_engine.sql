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
    session cursor runs one statement; the meta schema is created by cityshare.spark_engine before dbt runs). -#}
{% macro spark__cs_seen_ddl() -%}
    create table if not exists meta.dbt_seen_batches (model string, load_id string) using parquet
{%- endmacro %}

{#- How the project's incremental models materialize: incremental on DuckDB; on Spark a full rebuild (table) for now,
    since their merge (delete+insert of a key) needs a table format with row-level deletes (docs/spark.md). -#}
{% macro cs_incremental_materialization() -%}
    {{ return(adapter.dispatch('cs_incremental_materialization', 'cityshare')()) }}
{%- endmacro %}

{% macro default__cs_incremental_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__cs_incremental_materialization() -%}
    {{ return('table') }}
{%- endmacro %}
