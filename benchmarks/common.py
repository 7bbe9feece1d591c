"""Shared benchmark helpers: figures, real processes, free ports, temporary services, memory, machine."""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import urllib3

__all__ = [
    "API_TOKEN",
    "INTAKE_TOKEN",
    "POSTGRES_ADMIN",
    "REDIS_URL",
    "ROOT",
    "SIM_CLIENT_KEY",
    "SIM_CLIENT_SECRET",
    "Figure",
    "Proc",
    "free_port",
    "issue_tokens",
    "jsonl_inventory",
    "load_generator",
    "log_tails",
    "machine",
    "now_utc",
    "orchestrator_env",
    "peak_rss_mb",
    "postgres_database",
    "rabbitmq_vhost",
    "redis_database",
    "run_named",
    "simulator",
    "simulator_stats",
    "sql_inventory",
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
def simulator(workdir: Path, *, rate_limit_per_minute: int = 0) -> Iterator[tuple[str, Proc]]:
    """``orchestrator simulate tiktok`` in its own process on a free port; yields (base URL, process)."""
    port = free_port()
    args = ["simulate", "tiktok", "--port", str(port), "--rate-limit", str(rate_limit_per_minute)]
    proc = Proc.orchestrator(*args, env=orchestrator_env(workdir), log=workdir / f"simulator-{port}.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{url}/_simulator/stats", timeout=2).status_code == 200,
            timeout=30,
            what="the TikTok simulator",
        )
        yield url, proc
    finally:
        proc.stop()


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


def simulator_stats(sim_url: str) -> dict[str, Any]:
    """The simulator's counters (``GET /_simulator/stats``)."""
    return dict(httpx.get(f"{sim_url}/_simulator/stats", timeout=10).json())


def issue_tokens(sim_url: str, count: int) -> Iterator[dict[str, str]]:
    """Fresh authorisations from the simulator, streamed as dicts."""
    body = {"count": count, "open_id_prefix": f"b{time.monotonic_ns()}-"}
    with httpx.stream("POST", f"{sim_url}/_simulator/tokens", json=body, timeout=600) as answer:
        for line in answer.iter_lines():
            if line.strip():
                yield json.loads(line)


def jsonl_inventory(sim_url: str, count: int, path: Path) -> Path:
    """A JSON-lines token inventory of ``count`` fresh authorisations at ``path``."""
    with path.open("w", encoding="utf-8") as out:
        for record in issue_tokens(sim_url, count):
            out.write(json.dumps(record) + "\n")
    return path


def sql_inventory(sim_url: str, count: int, url: str) -> str:
    """Seed ``tiktok_tokens`` in the database at ``url`` with COPY; return the inventory URL."""
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TABLE tiktok_tokens (open_id text PRIMARY KEY, access_token text NOT NULL,"
            " refresh_token text, expires_at timestamptz, labels jsonb)"
        )
        with conn.cursor().copy(
            "COPY tiktok_tokens (open_id, access_token, refresh_token, expires_at, labels) FROM STDIN"
        ) as copy:
            for r in issue_tokens(sim_url, count):
                copy.write_row((r["open_id"], r["access_token"], r["refresh_token"], r["expires_at"], "{}"))
    return dsn


def _generate(sim_url: str, tokens: list[str], threads: int, ready: Any, results: Any) -> None:
    """One load-generator process: ``threads`` keep-alive threads revoke ``tokens``; reports its span."""
    queue = iter(tokens)
    lock = threading.Lock()
    pool = urllib3.PoolManager(maxsize=threads, retries=False)
    form = "application/x-www-form-urlencoded"

    def work() -> None:
        while True:
            with lock:
                token = next(queue, None)
            if token is None:
                return
            fields = {"client_key": SIM_CLIENT_KEY, "client_secret": SIM_CLIENT_SECRET, "token": token}
            body = urlencode(fields).encode()
            pool.request("POST", f"{sim_url}/v2/oauth/revoke/", body=body, headers={"Content-Type": form})

    workers = [threading.Thread(target=work) for _ in range(threads)]
    ready.wait()  # every process starts together: their spans overlap
    started = time.time()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    results.put((started, time.time()))
    pool.clear()


def load_generator(sim_url: str, tokens: list[str], threads: int, processes: int = 1) -> float:
    """Revoke ``tokens`` straight at the simulator from ``processes`` processes of keep-alive
    threads (``threads`` in all); requests/s from the first start to the last finish.

    It uses urllib3, as the orchestrator's TikTok client does: httpx costs about five times
    its CPU per request, so an httpx generator measured its own limit, not the simulator's.
    Give it as many processes as the orchestrator has revocation workers: one Python process
    is bound by its own CPU before the simulator is.
    """
    context = multiprocessing.get_context("spawn")
    ready, results = context.Barrier(processes), context.Queue()
    children = [
        context.Process(
            target=_generate, args=(sim_url, tokens[n::processes], threads // processes, ready, results)
        )
        for n in range(processes)
    ]
    for child in children:
        child.start()
    spans: list[tuple[float, float]] = [results.get(timeout=600) for _ in children]
    for child in children:
        child.join()
    return len(tokens) / (max(end for _, end in spans) - min(start for start, _ in spans))


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
