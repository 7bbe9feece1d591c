"""Private PostgreSQL and RabbitMQ servers a test starts, kills and starts again.

A TCP proxy's cut (tests/support/faults.py) is what a client sees of a restart; these are the
restart itself, for tests that must kill the real server: a ``postgres`` cluster made by
``initdb`` in the test's folder (run as the ``postgres`` user when the test runs as root, which
PostgreSQL refuses), and a ``rabbitmq-server`` node of its own name, ports and data folder. The
machine's shared services on 5432 and 5672 are never touched.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

from tests.support.processes import free_port, wait_for
from tests.support.services import unavailable

__all__ = ["PostgresServer", "RabbitServer"]


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PostgresServer:
    """A private PostgreSQL cluster on a free port; ``kill`` SIGKILLs the postmaster, ``close``
    also deletes the cluster. Its folder is a fresh one under the system's temporary folder,
    which the ``postgres`` user can reach (a test's ``tmp_path`` is private to root)."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
        if not found[-1]:
            unavailable("PostgreSQL's initdb is not installed (apt-get install postgresql)")
        self.bin = Path(found[-1]).parent
        self.folder = Path(tempfile.mkdtemp(prefix="orch-test-pg-"))
        self.port, self.data = free_port(), self.folder / "pgdata"
        self.process: subprocess.Popen[bytes] | None = None
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.folder, "postgres")
        subprocess.run(
            [*self._as, str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres"],
            check=True,
            capture_output=True,
            timeout=120,
        )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        args = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.data),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ]
        self.process = subprocess.Popen(
            [*self._as, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(lambda: _listening(self.port), timeout=30, what="the private PostgreSQL")

    def kill(self) -> None:
        """SIGKILL the postmaster (through runuser when root): no shutdown, connections reset."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            with_pid = int(pid_file.read_text().split()[0])
            with contextlib.suppress(ProcessLookupError):
                os.kill(with_pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)
        wait_for(lambda: not _listening(self.port), timeout=10, what="the private PostgreSQL gone")
        # the killed postmaster's backends exit on their own; a new one must not find the old pid file
        wait_for(
            lambda: (
                subprocess.run(["pgrep", "-f", "--", f"-D {self.data}"], capture_output=True).returncode != 0
            ),
            timeout=10,
            what="its backends gone",
        )
        pid_file.unlink(missing_ok=True)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


class RabbitServer:
    """A private RabbitMQ node (its own name, ports, configuration and folder); ``kill`` stops it
    at once, ``close`` also deletes its folder. ``rabbitmq-server`` started as root runs as the
    ``rabbitmq`` user, so the folder is a fresh one it may write."""

    def __init__(self) -> None:
        self.binary = shutil.which("rabbitmq-server") or (
            "/usr/sbin/rabbitmq-server" if Path("/usr/sbin/rabbitmq-server").exists() else ""
        )
        if not self.binary:
            unavailable("rabbitmq-server is not installed (apt-get install rabbitmq-server)")
        self.port, self.node = free_port(), f"orchtest{uuid.uuid4().hex[:6]}@localhost"
        self.folder = Path(tempfile.mkdtemp(prefix="orch-test-rabbit-"))
        self.folder.chmod(0o777)
        self.process: subprocess.Popen[bytes] | None = None
        (self.folder / "plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        env = os.environ | {
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "plugins"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.folder / "feature_flags"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq.conf"),
        }
        log = (self.folder / "server.log").open("ab")  # why it did not start, when it does not
        self.process = subprocess.Popen(
            [self.binary], env=env, stdout=log, stderr=log, start_new_session=True
        )
        log.close()
        wait_for(lambda: _listening(self.port), timeout=90, what="the private RabbitMQ")

    def kill(self) -> None:
        """SIGKILL the Erlang VM (its pid file: the script hands it to the ``rabbitmq`` user) and
        the process group of the script; its child helpers exit with it."""
        pid_file = self.folder / "pid"
        if pid_file.exists() and pid_file.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        pid_file.unlink(missing_ok=True)
        wait_for(lambda: not _listening(self.port), timeout=10, what="the private RabbitMQ gone")

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)
