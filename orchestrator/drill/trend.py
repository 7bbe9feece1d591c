"""The drills' trend as a picture: each measure over the kept drills, oldest first (inline SVG)."""

from __future__ import annotations

import math
from html import escape
from typing import Any

from orchestrator.timeline.charts import svg_document
from orchestrator.timeline.figures import duration_text

__all__ = ["SERIES", "measures", "trend_svg"]

SERIES = (("disconnect", "#1f6feb"), ("revoke", "#8250df"), ("report", "#bf8700"), ("people", "#1a7f37"))
"""What the trend shows: the automated SLOs, then the people's manual steps (their sum)."""

_W, _H, _LEFT, _RIGHT, _TOP, _BOTTOM = 760, 240, 60, 20, 20, 200


def measures(row: dict[str, Any]) -> dict[str, float | None]:
    """One kept drill's seconds per series (None: not measured in that drill)."""
    figures: dict[str, float | None] = {s["name"]: s["measured_s"] for s in row.get("slos", [])}
    people = row.get("people") or []
    figures["people"] = sum(float(p["took_s"]) for p in people) if people else None
    return figures


def trend_svg(rows: list[dict[str, Any]]) -> str:
    """Seconds (log scale) of each measure per drill; a dot per drill, a line per measure."""
    values = [v for row in rows for v in measures(row).values() if v is not None and v > 0]
    low, high = math.log10(min(values, default=0.01)), math.log10(max(values, default=1.0) * 1.5)
    span = max(high - low, 1.0)
    step = (_W - _LEFT - _RIGHT) / max(len(rows) - 1, 1)

    def y(seconds: float) -> float:
        return _BOTTOM - (_BOTTOM - _TOP) * (math.log10(max(seconds, 1e-3)) - low) / span

    body = [f'<line x1="{_LEFT}" y1="{_BOTTOM}" x2="{_W - _RIGHT}" y2="{_BOTTOM}" stroke="#444"/>']
    for seconds in (10 ** (low + span * i / 4) for i in range(5)):
        body.append(
            f'<text x="{_LEFT - 4}" y="{y(seconds) + 4:.1f}" text-anchor="end">'
            f"{duration_text(seconds)}</text>"
        )
    for index, row in enumerate(rows):
        x = _LEFT + step * index
        body.append(
            f'<text x="{x:.1f}" y="{_BOTTOM + 16}" text-anchor="middle">{escape(str(row["at"])[5:10])}</text>'
        )
    for legend, (name, colour) in enumerate(SERIES):
        points = [
            (_LEFT + step * i, y(v), v)
            for i, row in enumerate(rows)
            if (v := measures(row).get(name)) is not None
        ]
        if not points:
            continue
        path = " ".join(f"{x:.1f},{py:.1f}" for x, py, _ in points)
        body.append(
            f'<polyline class="series" data-name="{name}" points="{path}" fill="none" stroke="{colour}"/>'
        )
        body += [
            f'<circle class="drill" data-name="{name}" data-seconds="{v:.3f}" cx="{x:.1f}" '
            f'cy="{py:.1f}" r="3" fill="{colour}"><title>{name}: {duration_text(v)}</title></circle>'
            for x, py, v in points
        ]
        body.append(f'<text x="{_LEFT + 90 * legend}" y="{_H - 8}" fill="{colour}">{name}</text>')
    return svg_document(_H, "Drill trend: seconds from awareness per measure (log scale)", body)
