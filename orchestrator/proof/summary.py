"""The exposure census read back from timeline entries alone, for the postmortem and compliance report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.timeline import kinds

__all__ = ["COUNT_LABELS", "Exposure", "exposure_from_entries", "exposure_sentence"]

COUNT_LABELS: tuple[tuple[str, str], ...] = (
    ("connected", "connected (in the inventory, in scope)"),
    ("revoked", "revoked"),
    ("already_dead", "already dead"),
    ("failed", "failed to revoke"),
    ("gone", "gone (user left TikTok or the token left the inventory)"),
    ("pending", "not yet revoked"),
    ("confirmed_dead", "confirmed dead (probe or TikTok's receipt)"),
    ("still_live", "still live (a probe found it working)"),
    ("purged", "purged"),
)
"""The census counts in the order every view shows them, with their labels."""


class _Entry(Protocol):
    kind: str
    seq: int
    data: Any


@dataclass(frozen=True)
class Exposure:
    """The first and latest census of a chain: exposed at awareness and still exposed now."""

    exposed_at_awareness: int | None
    still_exposed: int | None
    phase: str
    counts: dict[str, int | None]
    escalate: bool
    evidence: list[int]

    def sentence(self) -> str:
        return exposure_sentence(self.exposed_at_awareness, self.still_exposed)

    def lines(self) -> list[str]:
        """One Markdown bullet per count, then the headline sentence."""
        out = [f"- Exposure census (after {self.phase}): {self.sentence()}"]
        for key, label in COUNT_LABELS:
            value = self.counts.get(key)
            out.append(f"  - {label}: {'-' if value is None else value}")
        if self.escalate:
            out.append("  - **A revoked token still worked: escalated to a person.**")
        return out


def exposure_sentence(exposed_at_awareness: int | None, still_exposed: int | None) -> str:
    """``exposed at awareness: N; still exposed now: M`` (``unknown`` where not counted)."""
    first = "unknown" if exposed_at_awareness is None else str(exposed_at_awareness)
    now = "unknown" if still_exposed is None else str(still_exposed)
    return f"exposed at awareness: {first}; still exposed now: {now}"


def _count(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def exposure_from_entries(entries: Iterable[_Entry]) -> Exposure | None:
    """The latest ``census`` entry of a chain (and the evidence of every one); None without any."""
    found = [e for e in entries if e.kind == kinds.CENSUS and isinstance(e.data, dict)]
    if not found:
        return None
    last = found[-1].data
    escalate = any(bool(e.data.get("escalate")) for e in found)
    return Exposure(
        exposed_at_awareness=_count(last, "exposed_at_awareness"),
        still_exposed=_count(last, "still_exposed"),
        phase=str(last.get("phase", "unknown")),
        counts={key: _count(last, key) for key, _ in COUNT_LABELS},
        escalate=escalate,
        evidence=[e.seq for e in found],
    )
