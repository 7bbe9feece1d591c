"""The kill switch: one shared flag; engaged means no TikTok call may leave the application."""

from __future__ import annotations

__all__: list[str] = []
