"""Governance quality reports (数据质量与时效考核): scorecards by GB/T 36344 dimension, timeliness
against the declared update cycle on the Chinese working calendar, blocked and quarantined loads, the
GB/T 30428.4 city-management evaluation, charts and the self-contained HTML report.

Every module reads the warehouse read-only and returns plain dicts/lists so the portal, the JSON API,
the CLI report and the tests share one computation.
"""
