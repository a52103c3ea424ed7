"""The quality gate at load time: a landed batch checked against its compiled contract, bad rows quarantined,
the accepted rows written, every rule's result returned for the commit (cityshare.ingest records it).

run — one batch through the gate (GateOutcome); gx_runner — Great Expectations suites on DuckDB, one session per
batch; gx_duckdb — the GX datasource it validates through (public GX API only). Above cityshare.contracts,
which only parses, lints and compiles contracts into rules; below ingest and publish, which run it.
"""
