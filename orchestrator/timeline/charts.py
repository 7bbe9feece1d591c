"""Pictures of an incident as inline SVG (no script, no external asset): its time axis and its
revocation's progress. Pure: built from a ``Record`` and the targets, for the page and the postmortem.

The time axis is logarithmic in seconds since awareness, because an incident's facts span
milliseconds (the switch) to days (resolution); its ticks are labelled, each key time is a
point carrying ``data-key`` and ``data-seconds``, and each clause's target is a dashed line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from html import escape

from orchestrator.timeline import kinds
from orchestrator.timeline.figures import Record, duration_text, key_figures

__all__ = ["Target", "clause_targets", "figures_svg", "progress_svg", "svg_document", "time_axis_svg"]

_W, _LEFT, _RIGHT = 760, 30, 40
_FLOOR = 0.1  # seconds: the axis's resolution near awareness
_TICKS = ((1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (86400, "1 d"))
_POINTS = (
    ("aware_at", "aware"),
    ("disconnected_at", "disconnected"),
    ("revoked_at", "tokens revoked"),
    ("reported_at", "reported"),
    ("resolved_at", "resolved"),
)


@dataclass(frozen=True)
class Target:
    """A clause's deadline after awareness, drawn as a line (e.g. III.2(f) disconnect, 60 min)."""

    label: str
    seconds: float


def clause_targets(*, disconnect_minutes: int, report_minutes: int) -> list[Target]:
    """The III.2(f) deadlines the compliance report measures against, as lines on the axis."""
    return [
        Target("III.2(f) disconnect target", disconnect_minutes * 60.0),
        Target("III.2(f) report target", report_minutes * 60.0),
    ]


def _x(seconds: float, span: float) -> float:
    return _LEFT + (_W - _LEFT - _RIGHT) * math.log1p(max(seconds, 0) / _FLOOR) / math.log1p(span / _FLOOR)


def svg_document(height: int, label: str, body: list[str]) -> str:
    """A standalone SVG of the pictures' width around ``body`` (markup built from escaped text)."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {_W} {height}" width="{_W}" height="{height}" font-family="sans-serif" '
        f'font-size="11">\n<title>{escape(label)}</title>\n' + "\n".join(body) + "\n</svg>\n"
    )


def time_axis_svg(record: Record, targets: list[Target]) -> str:
    """Awareness, disconnection, revocation, report and resolution on one axis, with the targets."""
    figures = key_figures(record)
    aware = figures.times["aware_at"]
    points = [
        (name, label, (figures.times[name] - aware).total_seconds())  # type: ignore[operator]
        for name, label in _POINTS
        if aware is not None and figures.times[name] is not None
    ]
    span = max([s for _, _, s in points] + [t.seconds for t in targets] + [1.0]) * 1.15
    axis_y = 70
    body = [f'<line x1="{_LEFT}" y1="{axis_y}" x2="{_W - _RIGHT}" y2="{axis_y}" stroke="#444"/>']
    for tick, text in _TICKS:
        if tick <= span:
            x = _x(tick, span)
            body.append(
                f'<line class="tick" data-seconds="{tick}" x1="{x:.1f}" y1="{axis_y - 4}" x2="{x:.1f}" '
                f'y2="{axis_y + 4}" stroke="#444"/><text x="{x:.1f}" y="{axis_y + 18}" '
                f'text-anchor="middle" fill="#555">{text}</text>'
            )
    for target in targets:
        x = _x(target.seconds, span)
        body.append(
            f'<line class="target" data-seconds="{target.seconds:g}" x1="{x:.1f}" y1="18" x2="{x:.1f}" '
            f'y2="{axis_y + 26}" stroke="#b00" stroke-dasharray="4 3"/><text x="{x:.1f}" y="12" '
            f'text-anchor="middle" fill="#b00">{escape(target.label)} '
            f"({duration_text(target.seconds)})</text>"
        )
    for index, (name, label, seconds) in enumerate(points):
        at_x, lift = _x(seconds, span), 22 + 14 * (index % 3)
        body.append(
            f'<circle class="point" data-key="{name}" data-seconds="{seconds:.6f}" cx="{at_x:.1f}" '
            f'cy="{axis_y}" r="5" fill="#1f6feb"><title>{escape(label)}: {duration_text(seconds)} after '
            f'awareness</title></circle><text x="{at_x:.1f}" y="{axis_y + 20 + lift}" text-anchor="middle">'
            f"{escape(label)} +{duration_text(seconds)}</text>"
        )
    return svg_document(150, "Time axis of the incident, seconds after awareness (log scale)", body)


def _progress_series(record: Record) -> dict[str, list[tuple[datetime, float, dict[str, int]]]]:
    """Per revocation: (time, share settled, codes failing then) from its start, progress, finish."""
    series: dict[str, list[tuple[datetime, float, dict[str, int]]]] = {}
    totals: dict[str, float] = {}
    for entry in record.entries:
        data = entry.data or {}
        rid = str(data.get("revocation_id") or "")
        if entry.kind == kinds.REVOCATION_STARTED and rid:
            totals[rid] = float(data.get("total") or 0)
            series[rid] = [(entry.at, 0.0, {})]
        elif entry.kind in (kinds.REVOCATION_PROGRESS, kinds.REVOCATION_FINISHED) and rid in series:
            done = data.get("done")
            if entry.kind == kinds.REVOCATION_FINISHED:
                done = sum(int(data.get(k) or 0) for k in ("revoked", "already_dead", "failed"))
                totals[rid] = totals[rid] or float(done)
            share = float(done or 0) / totals[rid] if totals[rid] else 1.0
            retrying = {str(k): int(v) for k, v in (data.get("retrying") or {}).items()}
            series[rid].append((entry.at, min(share, 1.0), retrying))
    return series


def progress_svg(record: Record) -> str | None:
    """Tokens settled over time for each revocation, with marks where TikTok answered 429 or 5xx;
    None when the incident had no revocation."""
    series = _progress_series(record)
    if not series:
        return None
    start = min(points[0][0] for points in series.values())
    span = max(max((p[0] - start).total_seconds() for p in pts) for pts in series.values()) or 1.0
    top, bottom = 20, 150
    width = _W - _LEFT - _RIGHT

    def xy(at: datetime, share: float) -> tuple[float, float]:
        return _LEFT + width * (at - start).total_seconds() / span, bottom - (bottom - top) * share

    body = [
        f'<line x1="{_LEFT}" y1="{bottom}" x2="{_W - _RIGHT}" y2="{bottom}" stroke="#444"/>',
        f'<line x1="{_LEFT}" y1="{top}" x2="{_LEFT}" y2="{bottom}" stroke="#444"/>',
        f'<text x="{_LEFT - 4}" y="{top + 4}" text-anchor="end">100%</text>',
        f'<text x="{_LEFT - 4}" y="{bottom}" text-anchor="end">0</text>',
        f'<text x="{_W - _RIGHT}" y="{bottom + 16}" text-anchor="end">{duration_text(span)}</text>',
    ]
    for rid, points in series.items():
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(at, share) for at, share, _ in points))
        body.append(
            f'<polyline class="settled" data-revocation="{escape(rid)}" points="{path}" fill="none" '
            f'stroke="#1f6feb" stroke-width="2"/>'
        )
        for at, share, retrying in points:
            codes = [f"{code} x{n}" for code, n in sorted(retrying.items())]  # retryable: 429, 5xx, timeouts
            if codes:
                x, y = xy(at, share)
                body.append(
                    f'<path class="throttled" d="M{x:.1f},{y - 9:.1f} l5,9 l-10,0 z" fill="#b00">'
                    f"<title>TikTok failing, tokens wait for another pass: {escape(', '.join(codes))}"
                    "</title></path>"
                )
    return svg_document(175, "Revocation progress: share of tokens settled over time", body)


def figures_svg(record: Record, targets: list[Target]) -> str:
    """Both pictures in one SVG document, the file written beside the postmortem."""
    axis = time_axis_svg(record, targets)
    progress = progress_svg(record)
    height = 150 + (175 if progress else 0)
    inner = [f'<g class="time-axis">{_inner(axis)}</g>']
    if progress is not None:
        inner.append(f'<g class="progress" transform="translate(0 150)">{_inner(progress)}</g>')
    return svg_document(height, f"Incident {record.incident.id}: time axis and revocation progress", inner)


def _inner(svg: str) -> str:
    """An SVG document's drawing without its root element, to nest it in another."""
    return svg[svg.index("</title>") + len("</title>") : svg.rindex("</svg>")]
