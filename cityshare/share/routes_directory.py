"""Portal and API routes for the directory pages (mounted by cityshare.share.app)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
