"""Shared benchmark helpers: figures and their runs, real processes, free ports, temporary services,
memory, machine (the TikTok simulator's are in ``benchmarks/tiktok.py``)."""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "API_TOKEN",
    "INTAKE_TOKEN",
    "POSTGRES_ADMIN",
    "QUICK_RUNS",
    "REDIS_URL",
    "ROOT",
    "RUNS",
    "RUNS_NOTE",
    "SIM_CLIENT_KEY",
    "SIM_CLIENT_SECRET",
    "Figure",
    "Proc",
    "free_port",
    "log_tails",
    "machine",
    "median_figure",
    "now_utc",
    "orchestrator_env",
    "peak_rss_mb",
    "postgres_database",
    "rabbitmq_vhost",
    "redis_database",
    "run_count",
    "run_named",
    "spread",
    "upgrade_store",
    "wait_for",
    "workdir",
]

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN = os.environ.get(
    "ORCH_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PINNED_REDIS = os.environ.get("ORCH_BENCH_REDIS_URL", "")
REDIS_BASE = "redis://127.0.0.1:6379"
REDIS_URL = PINNED_REDIS or f"{REDIS_BASE}/13"
AMQP_BASE = os.environ.get("ORCH_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672")
INTAKE_TOKEN = "bench-intake-token-0001"  # benchmark-only credentials for throwaway processes
API_TOKEN = "bench-api-token-0002"
SIM_CLIENT_KEY = "sim-client-key"  # the simulator's defaults: not a real TikTok credential
SIM_CLIENT_SECRET = "sim-client-secret-0000"


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its goal; ``met`` is None when the figure has no goal."""

    name: str
    value: float | int | str
    unit: str
    goal: str
    met: bool | None
    command: str

    def as_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Figure:
        return cls(
            name=str(data["name"]),
            value=data["value"],
            unit=str(data.get("unit", "")),
            goal=str(data.get("goal", "")),
            met=data.get("met"),
            command=str(data.get("command", "")),
        )


RUNS = 3
"""Runs behind a verdict (issue 4): a speed or latency is their median, the goal column their min and
max, so one run on a busy moment of this shared machine neither passes nor fails it alone."""
QUICK_RUNS = 2
"""Runs with ``--quick``: its sizes are small, and two runs still go through the median, min and max."""
RUNS_NOTE = (
    f"{RUNS} runs, each on fresh processes, store and broker: a speed, latency or ratio is their median "
    "(a ratio's baseline measured within each run), with their min and max in the goal column; a count "
    "that must hold in every run (all answered, nothing twice) is the worst run's."
)


def run_count(quick: bool) -> int:
    """How many runs a benchmark makes: ``RUNS``, or ``QUICK_RUNS`` with ``--quick``."""
    return QUICK_RUNS if quick else RUNS


def spread(values: Sequence[float], digits: int | None = 1) -> str:
    """The min and max of one figure's runs, for the goal column beside their median (``digits`` as
    ``round``'s: None gives whole numbers)."""
    return f"min {round(min(values), digits)}, max {round(max(values), digits)}, {len(values)} runs"


def median_figure(
    name: str,
    values: Sequence[float],
    unit: str,
    command: str,
    *,
    goal: str = "",
    met: Callable[[float], bool] | None = None,
    digits: int | None = 1,
) -> Figure:
    """A figure measured once a run: the median of ``values``, ``goal`` then their spread in the goal
    column, and ``met`` (None: no goal) judged on the median."""
    middle = statistics.median(values)
    shown = f"{goal}; {spread(values, digits)}" if goal else spread(values, digits)
    return Figure(name, round(middle, digits), unit, shown, None if met is None else met(middle), command)


def now_utc() -> str:
    """The current time as ISO 8601 UTC, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())


def machine() -> dict[str, str]:
    """What the figures were measured on: CPUs, memory, Python, OS, load average."""
    memory = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "memory": memory,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; raise naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
            if value:
                return value
        except Exception as exc:
            last = exc
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last!r})")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process and its live children, in MiB (the max)."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    peak = 0.0
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
        except OSError:
            continue
    return round(peak, 1)


class Proc:
    """One subprocess in its own session whose output goes to a log file."""

    def __init__(self, args: list[str], *, env: dict[str, str], log: Path) -> None:
        self.args, self.log = args, log
        self._handle = log.open("ab")
        self.popen = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self._handle, stderr=subprocess.STDOUT, start_new_session=True
        )

    @classmethod
    def orchestrator(cls, *args: str, env: dict[str, str], log: Path) -> Proc:
        """``python -m orchestrator ARGS`` with this interpreter."""
        return cls([sys.executable, "-m", "orchestrator", *args], env=env, log=log)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit; its return code."""
        code = self.popen.wait(timeout)
        self._handle.close()
        return code

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process group (SIGTERM), SIGKILL after 15 s; close the log."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        self._handle.close()


def orchestrator_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This environment without ``ORCH_*``, plus a data dir, quiet logs and the given settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCH_")}
    env |= {"ORCH_DATA_DIR": str(data_dir), "ORCH_LOG_LEVEL": "warning", "ORCH_LOG_FORMAT": "json"}
    env |= {"ORCH_INTAKE_TOKEN": INTAKE_TOKEN, "ORCH_API_TOKEN": API_TOKEN}
    env |= {"ORCH_TIKTOK_CLIENT_KEY": SIM_CLIENT_KEY, "ORCH_TIKTOK_CLIENT_SECRET": SIM_CLIENT_SECRET}
    env |= {f"ORCH_{k.upper()}": v for k, v in settings.items()}
    return env


def log_tails(folder: Path, lines: int = 15) -> None:
    """Print the last lines of every log in ``folder`` to stderr (they vanish with the folder)."""
    for log in sorted(folder.rglob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name} (last lines)", *tail, sep="\n", file=sys.stderr)


@contextmanager
def workdir() -> Iterator[Path]:
    """A temporary folder for logs and data; on an error its logs' tails go to stderr first."""
    folder = Path(tempfile.mkdtemp(prefix="orch-bench-"))
    try:
        yield folder
    except BaseException:
        log_tails(folder)
        raise
    finally:
        if os.environ.get("ORCH_BENCH_KEEP") != "1":  # ORCH_BENCH_KEEP=1 keeps every log
            shutil.rmtree(folder, ignore_errors=True)


def upgrade_store(env: dict[str, str], log: Path) -> None:
    """``orchestrator db upgrade`` before any long-running process starts (they race otherwise)."""
    if Proc.orchestrator("db", "upgrade", env=env, log=log).wait(120) != 0:
        raise RuntimeError(f"orchestrator db upgrade failed; see {log}")


@contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database; yields its SQLAlchemy URL and drops it afterwards."""
    from sqlalchemy import create_engine, text

    name = f"orch_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def redis_database() -> Iterator[str]:
    """A Redis database of this run's own, flushed before and after; yields its URL.

    Runs at the same time (the hour-long 1M run beside a quick one) must not flush each other's
    queues, so each claims a free database from 13 down to 1 (0 is the default, 14 and 15 the tests').
    ``ORCH_BENCH_REDIS_URL`` pins one instead.
    """
    import redis

    claim = f"orchestrator-bench-claim:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    urls = [REDIS_URL] if PINNED_REDIS else [f"{REDIS_BASE}/{db}" for db in range(13, 0, -1)]
    for url in urls:
        client = redis.Redis.from_url(url)
        if PINNED_REDIS or (client.dbsize() == 0 and client.set("orchestrator-bench-claim", claim, nx=True)):
            break
        client.close()
    else:
        raise RuntimeError("no free Redis database for the benchmark (13 down to 1 are all in use)")
    client.flushdb()
    client.set("orchestrator-bench-claim", claim)
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A RabbitMQ vhost of this run's own (``rabbitmqctl`` on this host), deleted afterwards;
    yields the broker URL. Its queues are nobody else's, so runs beside the tests never mix."""
    name = f"orch_bench_{uuid.uuid4().hex[:8]}"
    ctl = shutil.which("rabbitmqctl") or "rabbitmqctl"
    subprocess.run([ctl, "add_vhost", name], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run([ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        yield f"{AMQP_BASE}/{name}"
    finally:
        subprocess.run([ctl, "delete_vhost", name], capture_output=True, timeout=60)


def run_named(
    benchmarks: dict[str, Callable[[bool], list[Figure]]], quick: bool, names: list[str] | None
) -> list[Figure]:
    """Run the named benchmarks of a module (all by default), printing each figure as a JSON line."""
    figures: list[Figure] = []
    for name in names or list(benchmarks):
        for figure in benchmarks[name](quick):
            print(figure.as_json(), flush=True)
            figures.append(figure)
    return figures
