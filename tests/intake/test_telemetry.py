"""FastAPI's native OpenTelemetry stays off in the API, whatever provider the process has.

Its request spans carry the URL, and Splunk sends its webhook secret in the query string. The
probe runs in a process of its own: an OpenTelemetry provider is global and set once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import asyncio, json, sys, tempfile
import httpx
from opentelemetry import trace

class Recorder(trace.TracerProvider):
    def __init__(self):
        self.spans = []
    def get_tracer(self, *args, **kwargs):
        return RecordingTracer(self)

class RecordingTracer(trace.Tracer):
    def __init__(self, provider):
        self.provider = provider
    def start_span(self, name, *args, **kwargs):
        self.provider.spans.append(name)
        return trace.NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)
    def start_as_current_span(self, name, *args, **kwargs):
        return trace.use_span(self.start_span(name), end_on_exit=True)

recorder = Recorder()
trace.set_tracer_provider(recorder)  # as an operator's auto-instrumentation would
from fastapi import FastAPI
if sys.argv[1] == "plain":
    app = FastAPI()
    app.get("/healthz")(lambda: {})
else:
    from orchestrator.config import load_settings
    from orchestrator.api.app import create_app
    from orchestrator.worker.runtime import Runtime
    app = create_app(Runtime(load_settings(overrides={"data_dir": tempfile.mkdtemp()})))

async def call():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        await client.get("/healthz?token=planted-query-secret")

asyncio.run(call())
print(json.dumps(recorder.spans))
"""


def spans(app: str, tmp_path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, app],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    result: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize(("app", "traced"), [("plain", True), ("orchestrator", False)])
def test_request_spans_are_made_only_by_a_plain_fastapi_app(app: str, traced: bool, tmp_path: Path) -> None:
    """The plain app shows the probe records spans; the orchestrator's app gives it none."""
    assert bool(spans(app, tmp_path)) is traced
