"""Portal and API routes for the quality pages (mounted by cityshare.share.app)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
