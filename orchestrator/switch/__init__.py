"""The kill switch: one shared flag; engaged means no TikTok call may leave the application."""

from __future__ import annotations

__all__ = ["KILL_SWITCH_ACTION"]

KILL_SWITCH_ACTION = "tiktok.kill_switch"
"""The playbook action that engages the switch (``actions/tiktok.KillSwitchAction``); the playbook
catalog refuses to start a worker unless a critical compromise runs one."""
