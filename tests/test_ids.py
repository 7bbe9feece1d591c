"""Random ids: unguessable like uuid4, but without a system call (and a GIL hand-off) per id."""

from __future__ import annotations

import os
import re

import pytest

from orchestrator import ids


def test_ids_are_hex_of_the_asked_length_and_never_repeat() -> None:
    made = [ids.random_hex() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in made)
    assert re.fullmatch(r"[0-9a-f]{12}", ids.random_hex(12))


def test_the_kernel_is_asked_for_randomness_once_per_pool_not_once_per_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    real = os.urandom

    def counted(size: int) -> bytes:
        calls.append(size)
        return real(size)

    monkeypatch.setattr(os, "urandom", counted)
    for _ in range(1000):
        ids.random_hex()
    assert 1 <= len(calls) <= 5  # 16 bytes an id, 4 KiB a read


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    ids.random_hex()  # the parent's pool is filled
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child
        os.write(write, "".join(ids.random_hex() for _ in range(8)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 4096).decode()
    os.close(read)
    mine = "".join(ids.random_hex() for _ in range(8))
    assert len(theirs) == len(mine) == 256 and theirs != mine
