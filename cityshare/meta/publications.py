"""``meta.publications``, ``meta.publish_status`` and ``meta.build_state``: what was published, in which version,
why a table is held back, and what the last build saw."""

from __future__ import annotations
