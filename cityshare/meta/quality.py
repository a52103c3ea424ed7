"""``meta.quality_results`` and ``meta.quality_history``: every rule's result per batch and stage, kept."""

from __future__ import annotations
