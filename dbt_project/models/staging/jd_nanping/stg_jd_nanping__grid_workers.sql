-- Grid roster (网格及网格员) of 南坪街道: one row per (grid, worker), 14-digit unit grid code, worker masked + tokenized (standard layer / 标准库).
{{ stg_grid_workers('jd_nanping') }}
