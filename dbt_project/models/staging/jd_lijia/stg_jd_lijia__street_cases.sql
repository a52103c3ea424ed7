-- 街道吹哨、部门报到 cases raised by 礼嘉街道: typed, one row per case, 14-digit unit grid code (standard layer / 标准库).
{{ stg_street_cases('jd_lijia') }}
