"""Shared fixtures: real simulators on 127.0.0.1 and clients pointed at them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from orchestrator.tiktok import BusinessClient, TikTokClient
from orchestrator.tiktok.simulator import SimulatorOptions, TikTokSimulator

MakeSim = Callable[..., TikTokSimulator]


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[TikTokSimulator]:
    """One well-behaved simulator for tests that only read their own fresh tokens."""
    with TikTokSimulator(SimulatorOptions(seed=7)) as sim:
        yield sim


@pytest.fixture
def make_sim() -> Iterator[MakeSim]:
    """Start a simulator with specific options; stopped after the test."""
    started: list[TikTokSimulator] = []

    def make(**options: Any) -> TikTokSimulator:
        sim = TikTokSimulator(SimulatorOptions(**options))
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def client_for() -> Iterator[Callable[..., TikTokClient]]:
    """An OAuth v2 client for a simulator (its own credentials unless overridden)."""
    made: list[TikTokClient] = []

    def make(sim: TikTokSimulator, **overrides: Any) -> TikTokClient:
        client = TikTokClient(
            sim.base_url,
            overrides.pop("client_key", sim.options.client_key),
            overrides.pop("client_secret", sim.options.client_secret),
            **overrides,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def business_for() -> Iterator[Callable[..., BusinessClient]]:
    """A Marketing API client for a simulator."""
    made: list[BusinessClient] = []

    def make(sim: TikTokSimulator, secret: str | None = None) -> BusinessClient:
        client = BusinessClient(
            sim.base_url, sim.options.business_app_id, secret or sim.options.business_secret
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
