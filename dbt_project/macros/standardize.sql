{#- Helpers for the standard layer (标准库): raw columns are VARCHAR exactly as delivered (贴源). -#}

{#- Trimmed text, NULL for empty / whitespace-only values. -#}
{% macro cs_clean(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Timestamp from the usual export formats; NULL when unparseable (never fails the build). -#}
{% macro cs_parse_timestamp(column) -%}
    coalesce(
        try_cast({{ cs_clean(column) }} as timestamp),
        try_strptime({{ cs_clean(column) }}, ['%Y/%m/%d %H:%M:%S', '%Y/%m/%d %H:%M', '%Y%m%d%H%M%S'])
    )
{%- endmacro %}

{#- Date from the usual export formats; NULL when unparseable. -#}
{% macro cs_parse_date(column) -%}
    coalesce(
        try_cast({{ cs_clean(column) }} as date),
        cast(try_strptime({{ cs_clean(column) }}, ['%Y/%m/%d', '%Y%m%d', '%Y年%m月%d日']) as date)
    )
{%- endmacro %}

{#- A numeric code restored to its fixed width (spreadsheets drop leading zeros: 502 -> 0502). -#}
{% macro cs_pad_code(column, width) -%}
    case
        when regexp_full_match({{ cs_clean(column) }}, '[0-9]{1,{{ width }}}')
            then lpad({{ cs_clean(column) }}, {{ width }}, '0')
        else {{ cs_clean(column) }}
    end
{%- endmacro %}

{#- Mobile number reduced to its digits, without a +86 / 86 country code. -#}
{% macro cs_normalize_phone(column) -%}
    nullif(
        regexp_replace(
            regexp_replace(coalesce({{ column }}, ''), '[^0-9]', '', 'g'),
            '^86([0-9]{11})$', '\1'
        ),
        ''
    )
{%- endmacro %}

{#- Free text with any mobile number or ID number in it masked like the PII columns
    (defence in depth: reporters sometimes type contact details into the description). -#}
{% macro cs_scrub_free_text(column) -%}
    regexp_replace(
        regexp_replace(
            {{ cs_clean(column) }},
            '([0-9]{6})[0-9]{8}([0-9]{3}[0-9Xx])', '\1********\2', 'g'
        ),
        '(1[3-9][0-9])[0-9]{4}([0-9]{4})', '\1****\2', 'g'
    )
{%- endmacro %}
