{#- Helpers for the standard layer (标准库): raw columns are VARCHAR exactly as delivered (贴源). -#}

{#- Trimmed text, NULL for empty / whitespace-only values. -#}
{% macro cs_clean(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Timestamp from the usual export formats; NULL when unparseable (never fails the build). -#}
{% macro cs_parse_timestamp(column) -%}
    coalesce(
        try_cast({{ cs_clean(column) }} as timestamp),
        {{ cs_try_strptime(cs_clean(column), ['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y%m%d%H%M%S']) }}
    )
{%- endmacro %}

{#- Date from the usual export formats; NULL when unparseable. -#}
{% macro cs_parse_date(column) -%}
    coalesce(
        try_cast({{ cs_clean(column) }} as date),
        cast({{ cs_try_strptime(cs_clean(column), ['%Y/%m/%d', '%Y%m%d', '%Y年%m月%d日']) }} as date)
    )
{%- endmacro %}

{#- A numeric code restored to its fixed width (spreadsheets drop leading zeros: 502 -> 0502). -#}
{% macro cs_pad_code(column, width) -%}
    case
        when {{ cs_regexp_full_match(cs_clean(column), '[0-9]{1,' ~ width ~ '}') }}
            then lpad({{ cs_clean(column) }}, {{ width }}, '0')
        else {{ cs_clean(column) }}
    end
{%- endmacro %}

{#- A resident ID number (居民身份证号) without whitespace, upper-case check character; NULL when empty. -#}
{% macro cs_normalize_id_number(column) -%}
    upper(nullif({{ cs_regexp_replace_all("coalesce(" ~ column ~ ", '')", '\\s', '') }}, ''))
{%- endmacro %}

{#- Mobile number reduced to its digits, without a +86 / 86 country code. -#}
{% macro cs_normalize_phone(column) -%}
    nullif(
        {{ cs_regexp_replace_all(cs_regexp_replace_all("coalesce(" ~ column ~ ", '')", '[^0-9]', ''),
                                 '^86([0-9]{11})$', '\\1', anchored=true) }},
        ''
    )
{%- endmacro %}

{#- Free text with any mobile number or ID number in it masked like the PII columns
    (defence in depth: reporters sometimes type contact details into the description). -#}
{% macro cs_scrub_free_text(column) -%}
    {{ cs_regexp_replace_all(
        cs_regexp_replace_all(cs_clean(column), '([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])', '\\1********\\2'),
        '(1[3-9][0-9])[0-9]{4}([0-9]{4})', '\\1****\\2') }}
{%- endmacro %}

{#- GB/T 2260: a county code with legacy codes (县改区: 500228 梁平县 → 500155 梁平区 ...) mapped to the
    current one, from the area_code_changes seed. -#}
{% macro cs_std_area_code(column) -%}
    coalesce(
        {{ cs_changed_code('chg.old_code = ' ~ cs_clean(column)) }},
        {{ cs_clean(column) }}
    )
{%- endmacro %}

{#- A 9-digit street code whose county part is a legacy code, rewritten to the current county code. -#}
{% macro cs_std_street_code(column) -%}
    coalesce(
        {{ cs_changed_code('chg.old_code = left(' ~ cs_clean(column) ~ ', 6)', suffix='substr(' ~ cs_clean(column) ~ ', 7)') }},
        {{ cs_clean(column) }}
    )
{%- endmacro %}

{#- Numbers delivered as text: NULL when not a number (never fails the build). -#}
{% macro cs_parse_double(column) -%}
    try_cast({{ cs_clean(column) }} as double)
{%- endmacro %}

{% macro cs_parse_int(column) -%}
    {{ cs_double_to_bigint('try_cast(' ~ cs_clean(column) ~ ' as double)') }}
{%- endmacro %}

{#- true/false/是/否/1/0 as BOOLEAN, NULL otherwise. -#}
{% macro cs_parse_bool(column) -%}
    case
        when lower({{ cs_clean(column) }}) in ('true', 't', '1', '是', 'y', 'yes') then true
        when lower({{ cs_clean(column) }}) in ('false', 'f', '0', '否', 'n', 'no') then false
    end
{%- endmacro %}

{#- The load-metadata columns every standard model carries (lineage back to the raw batch). -#}
{% macro cs_load_meta(alias=none) -%}
    {%- set p = (alias ~ '.') if alias else '' -%}
    {{ p }}_load_id, {{ p }}_loaded_at, {{ p }}_load_date, {{ p }}_source, {{ p }}_batch_seq
{%- endmacro %}

{#- Keep one row per key: the copy from the latest delivery wins — after ``order_first`` (a business time such as
    updated_at, where the model declares one), the latest load date (the day the data describes: a backfill of an
    old day never replaces a newer day's state), then, within a load date, the batch's commit sequence
    ``_batch_seq``, which the warehouse assigns when the gate commits. Never ``_loaded_at``, the landing worker's
    clock. Ties: highest row hash, deterministic. -#}
{% macro cs_latest_per(key, order_first=none) -%}
    {%- set first = (order_first ~ ' desc nulls last, ') if order_first and order_first != '_load_date' else '' %}
    qualify row_number() over (
        partition by {{ key }}
        order by {{ first }}_load_date desc nulls last, _batch_seq desc nulls last, _row_hash desc nulls last
    ) = 1
{%- endmacro %}
