"""Brokers a fault test may restart empty without touching anyone else's: a private Redis, and a
private vhost on the machine's RabbitMQ.

Tests never restart the shared Redis or RabbitMQ on 127.0.0.1 (other tests and other people use
them at the same time). A Redis restart is a private ``redis-server`` SIGKILLed and started
again; a RabbitMQ restart is the queues of the test's own vhost deleted while the proxy in front
of it (``faults.TcpProxy``) refuses connections: every message goes with them, ready or not yet
acknowledged, as a restart of a broker that keeps nothing on disk loses them, and the clients
must declare their queues again. Each says how many messages its restart lost.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import redis
from kombu.connection import Connection

from tests.support.processes import wait_for
from tests.support.services import require, unavailable

__all__ = ["RabbitVhost", "RedisServer", "rabbitmq_vhost"]


class RedisServer:
    """A private redis-server without persistence: a restart loses every queued message."""

    def __init__(self, port: int, folder: Path) -> None:
        self.port, self.folder = port, folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=self.folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, timeout=10, what="redis-server")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no save; whatever it held is gone."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def messages(self) -> int:
        """Messages it holds, all lost to a kill: waiting in a queue (kombu keeps each as a list)
        or delivered and not yet acknowledged (kombu's ``unacked`` hash)."""
        with redis.Redis(port=self.port, socket_timeout=2) as client:
            waiting = sum(int(client.llen(key)) for key in client.keys("*") if client.type(key) == b"list")
            return waiting + int(client.hlen("unacked"))

    def _answers(self) -> bool:
        with redis.Redis(port=self.port, socket_timeout=1) as client:
            return bool(client.ping())


class RabbitVhost:
    """A private vhost on the real RabbitMQ (its queues are nobody else's), made and deleted with
    ``rabbitmqctl``; ``url`` is the broker URL pointing at it."""

    def __init__(self, amqp_url: str) -> None:
        ctl = shutil.which("rabbitmqctl")
        if ctl is None:
            unavailable("rabbitmqctl is not installed; a private vhost is needed to share RabbitMQ safely")
        self._ctl, parts = ctl, urlsplit(amqp_url)
        self.name = f"orch_test_{uuid.uuid4().hex[:10]}"
        self.user = parts.username or "guest"
        self.url = parts._replace(path=f"/{self.name}").geturl()

    def _run(self, *args: str) -> None:
        subprocess.run([self._ctl, *args], check=True, capture_output=True, timeout=60)

    def create(self) -> None:
        self._run("add_vhost", self.name)
        self._run("set_permissions", "-p", self.name, self.user, ".*", ".*", ".*")

    def delete(self) -> None:
        self._run("delete_vhost", self.name)

    def empty(self, queues: Iterable[str]) -> int:
        """Delete ``queues`` with every message in them, through a connection of its own straight
        to RabbitMQ (``rabbitmqctl`` takes most of a second a call); how many messages went."""
        with Connection(self.url, connect_timeout=3) as conn:
            channel = conn.channel()
            return sum(int(channel.queue_delete(queue) or 0) for queue in queues)


@contextlib.contextmanager
def rabbitmq_vhost(amqp_url: str) -> Iterator[RabbitVhost]:
    """A private, empty vhost for one test, deleted afterwards. Needs ``rabbitmqctl`` on this host."""
    require(amqp_url, "RabbitMQ")
    vhost = RabbitVhost(amqp_url)
    try:
        vhost.create()
    except (OSError, subprocess.SubprocessError) as exc:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            vhost.delete()
        unavailable(f"cannot create a RabbitMQ vhost with rabbitmqctl ({type(exc).__name__})")
    try:
        yield vhost
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            vhost.delete()
