"""The Celery app: JSON only, late acks, one queue per kind of work, the embedded broker.

The embedded broker is kombu's filesystem transport (with atomic writes, worker/fsbroker.py)
in ``data_dir/broker``: no server
to install, messages survive a restart as files. It removes a message when a worker
takes it, so a worker killed mid-task loses that message; the store's outbox is the
source of truth and the relay publishes unfinished work again (see store/outbox.py).
Redis and RabbitMQ keep unacknowledged messages themselves; the outbox covers them too.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Queue

from orchestrator.config import Settings
from orchestrator.errors import BrokerError
from orchestrator.routing import BATCHED_TOPICS, QUEUES, ROUTES
from orchestrator.worker import fsbroker

__all__ = ["BrokerPublisher", "broker_ping", "make_celery", "publisher"]


def _embedded_folders(settings: Settings) -> dict[str, Any]:
    base = (settings.data_dir / "broker").resolve()
    queue_dir, processed, control = base / "queue", base / "processed", base / "control"
    for folder in (queue_dir, processed, control):
        folder.mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "processed_folder": str(processed),
        "control_folder": str(control),
        "store_processed": False,
        "polling_interval": 0.05,
    }


def make_celery(settings: Settings) -> Celery:
    """A configured Celery app; a runtime registers the orchestrator's tasks on it
    (``tasks.register``), bound to itself."""
    app = Celery("orchestrator", set_as_current=False)
    embedded = settings.embedded_broker
    app.conf.update(
        broker_url=f"{fsbroker.SCHEME}://" if embedded else settings.broker_url,
        broker_transport_options=_embedded_folders(settings) if embedded else {"visibility_timeout": 3600},
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        # After a broker reconnect Celery lowers the prefetch and raises it again from the
        # thread that acks a task: with the threads pool that is a blocking basic.qos racing the
        # consumer's own on one AMQP connection, which wedges the worker (missed heartbeats,
        # UnexpectedFrame) for minutes after a RabbitMQ restart. Late acks make it needless.
        worker_enable_prefetch_count_reduction=False,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        task_default_queue="events",
        task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        task_create_missing_queues=False,
        broker_heartbeat=10 if settings.broker_url.startswith("amqp") else 0,
    )
    return app


class BrokerPublisher:
    """``publish(topic, *row_ids)``: rows of a batched topic in one message, others one message
    each; raises BrokerError when the broker is down (rows sent before the failure stay sent).

    Celery waits for a broker that is down, retrying for ever; ``fail_fast`` gives up after one
    retry instead, on a connection of its own (for one thread only; ``close`` it), for a caller
    that must not wait: the intake's writer, whose rows the relay sends later anyway.
    """

    def __init__(self, app: Celery, *, fail_fast: bool = False) -> None:
        self._app = app
        self._connection = (
            app.connection_for_write(transport_options={"max_retries": 1}) if fail_fast else None
        )

    def __call__(self, topic: str, *row_ids: int) -> None:
        route = ROUTES[topic]
        groups = [list(row_ids)] if topic in BATCHED_TOPICS else [[row_id] for row_id in row_ids]
        for args in groups:
            try:
                self._app.send_task(
                    route.task, args=args, queue=route.queue, retry=False, connection=self._connection
                )
            except Exception as exc:
                if self._connection is not None:
                    # Drop the broken connection now, sockets and all: the next call connects
                    # afresh, and the old socket does not linger until garbage collection.
                    self._connection.collect()
                raise BrokerError(f"broker unreachable: {type(exc).__name__}") from exc

    def close(self) -> None:
        if self._connection is not None:
            self._connection.release()


def publisher(app: Celery, *, fail_fast: bool = False) -> BrokerPublisher:
    """A ``BrokerPublisher`` for ``app``."""
    return BrokerPublisher(app, fail_fast=fail_fast)


def broker_ping(app: Celery, settings: Settings) -> None:
    """Raise BrokerError unless the broker accepts a connection within a few seconds."""
    if settings.embedded_broker:
        why = fsbroker.broken(app.conf.broker_transport_options)
        if why is not None:
            raise BrokerError(f"broker unreachable: {why}")
        return
    try:  # one quick retry: kombu's default 2 s pause made /healthz late to tell a broker is gone
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0.2, interval_step=0.2, timeout=2)
    except Exception as exc:
        raise BrokerError(f"broker unreachable: {type(exc).__name__}") from exc
