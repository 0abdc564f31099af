"""The guards' shared store: MemoryStore and RedisStore against a real redis-server on loopback."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from otel_llm.guard_store import (
    _SWEEP_AT,
    GuardStore,
    MemoryStore,
    RedisStore,
    StoreUnavailable,
)
from otel_llm.testing.redis_server import RedisServer
from otel_llm.testing.stack import free_port


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_store(redis_server: RedisServer) -> Iterator[RedisStore]:
    # A prefix per test keeps tests apart on the one shared server.
    store = RedisStore(redis_server.url, prefix=f"test-{uuid.uuid4().hex}:")
    yield store
    store.close()


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest) -> GuardStore:
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("redis_store")


def in_seconds(seconds: float) -> float:
    return time.time() + seconds


def wait_for_child(pid: int, timeout: float = 10.0) -> int:
    """The exit code of a forked child; kills it and fails the test when it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail(f"forked child {pid} hung for {timeout}s")


def run_in_child(work: Callable[[], bool]) -> int:
    """Runs `work()` in a forked child; its exit code is 0 when work() returned True."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if work() else 1
        finally:
            os._exit(code)
    return wait_for_child(pid)


def test_both_stores_follow_the_protocol(store: GuardStore) -> None:
    assert isinstance(store, GuardStore)


def test_reserve_succeeds_under_and_at_the_limit_and_fails_over_it(store: GuardStore) -> None:
    expires = in_seconds(60)
    assert store.reserve("k", 4.0, 10.0, expires) == (True, 4.0)
    assert store.reserve("k", 6.0, 10.0, expires) == (True, 10.0)
    assert store.reserve("k", 0.5, 10.0, expires) == (False, 10.0)
    assert store.reserve("k", 0.0, 10.0, expires) == (True, 10.0)
    assert store.reserve("k", 0.0, 9.0, expires) == (False, 10.0)
    assert store.get("k") == 10.0


def test_reserve_over_the_limit_on_an_empty_key_changes_nothing(store: GuardStore) -> None:
    expires = in_seconds(60)
    assert store.reserve("k", 11.0, 10.0, expires) == (False, 0.0)
    assert store.reserve("k", 0.0, 10.0, expires) == (True, 0.0)
    assert store.get("k") == 0.0


def test_float_steps_reach_the_limit_exactly(store: GuardStore) -> None:
    # 0.1 + 0.2 is 0.30000000000000004 in floats: only the tolerance lets it fit under 0.3.
    expires = in_seconds(60)
    assert store.reserve("k", 0.1, 0.3, expires)[0]
    ok, total = store.reserve("k", 0.2, 0.3, expires)
    assert ok and total == pytest.approx(0.3)
    assert store.reserve("k", 1e-6, 0.3, expires)[0] is False


def test_adjust_adds_subtracts_and_never_goes_below_zero(store: GuardStore) -> None:
    expires = in_seconds(60)
    store.reserve("k", 5.0, 10.0, expires)
    assert store.adjust("k", 2.0, expires) == 7.0
    assert store.adjust("k", -3.0, expires) == 4.0
    assert store.adjust("k", -10.0, expires) == 0.0
    assert store.get("k") == 0.0
    assert store.adjust("k", 1.5, expires) == 1.5
    assert store.reserve("k", 8.5, 10.0, expires) == (True, 10.0)


def test_keys_are_independent(store: GuardStore) -> None:
    expires = in_seconds(60)
    assert store.reserve("a", 10.0, 10.0, expires) == (True, 10.0)
    assert store.reserve("b", 3.0, 10.0, expires) == (True, 3.0)
    store.adjust("b", -1.0, expires)
    assert (store.get("a"), store.get("b"), store.get("c")) == (10.0, 2.0, 0.0)


def test_a_key_counts_zero_after_it_expires(store: GuardStore, request: pytest.FixtureRequest) -> None:
    expires = in_seconds(1.0)
    assert store.reserve("k", 5.0, 5.0, expires) == (True, 5.0)
    assert store.reserve("k", 1.0, 5.0, expires)[0] is False
    if isinstance(store, RedisStore):
        with redis.Redis.from_url(request.getfixturevalue("redis_server").url) as client:
            assert 0 < client.pttl(store.prefix + "k") <= 1000
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    assert store.get("k") == 0.0
    assert store.reserve("k", 5.0, 5.0, in_seconds(60)) == (True, 5.0)


def test_past_expiry_answers_against_zero_and_stores_nothing(store: GuardStore) -> None:
    store.reserve("k", 3.0, 10.0, in_seconds(60))
    past = in_seconds(-1)
    assert store.reserve("k", 8.0, 10.0, past) == (True, 8.0)
    assert store.reserve("k", 11.0, 10.0, past) == (False, 0.0)
    assert store.adjust("k", 2.0, past) == 2.0
    assert store.adjust("k", -2.0, past) == 0.0
    assert store.get("k") == 3.0


def test_invalid_amounts_are_rejected(store: GuardStore) -> None:
    with pytest.raises(ValueError, match="adjust"):
        store.reserve("k", -1.0, 10.0, in_seconds(60))
    with pytest.raises(ValueError, match="finite"):
        store.reserve("k", float("nan"), 10.0, in_seconds(60))
    with pytest.raises(ValueError, match="finite"):
        store.adjust("k", float("inf"), in_seconds(60))


class _YieldingDict(dict):
    """Hands the GIL to another thread after every read, so a read-then-write without the lock races."""

    def get(self, key: object, default: object = None) -> object:
        value = super().get(key, default)
        time.sleep(0)
        return value


def test_threads_reserve_exactly_up_to_the_limit(store: GuardStore) -> None:
    if isinstance(store, MemoryStore):
        store._entries = _YieldingDict()
    expires = in_seconds(60)
    start = threading.Barrier(8)
    successes = []

    def reserve_many() -> None:
        start.wait()
        successes.append(sum(store.reserve("k", 1.0, 100.0, expires)[0] for _ in range(50)))

    threads = [threading.Thread(target=reserve_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sum(successes) == 100
    assert store.get("k") == 100.0


def _reserve_in_process(url: str, prefix: str, start: Any, results: Any) -> None:
    store = RedisStore(url, prefix=prefix)
    start.wait(10)
    results.put(sum(store.reserve("k", 1.0, 100.0, in_seconds(60))[0] for _ in range(50)))


def test_processes_reserve_exactly_up_to_the_limit_in_redis(
    redis_server: RedisServer, redis_store: RedisStore
) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    results = context.Queue()
    processes = [
        context.Process(
            target=_reserve_in_process, args=(redis_server.url, redis_store.prefix, start, results)
        )
        for _ in range(4)
    ]
    for process in processes:
        process.start()
    counts = [results.get(timeout=15) for _ in processes]
    for process in processes:
        process.join(5)
        assert process.exitcode == 0
    assert sum(counts) == 100
    assert redis_store.get("k") == 100.0


def test_forked_child_can_reserve(store: GuardStore) -> None:
    expires = in_seconds(60)
    store.reserve("k", 1.0, 10.0, expires)  # the Redis pool now holds a parent's connection
    assert run_in_child(lambda: store.reserve("k", 1.0, 10.0, expires) == (True, 2.0)) == 0
    # Redis shares the child's reservation; a MemoryStore child counted in its own copy.
    assert store.get("k") == (2.0 if isinstance(store, RedisStore) else 1.0)
    assert store.reserve("k", 1.0, 10.0, expires)[0]


def test_forked_child_does_not_deadlock_on_a_lock_held_at_fork() -> None:
    store = MemoryStore()
    expires = in_seconds(60)
    store.reserve("k", 1.0, 10.0, expires)
    holding, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        with store._lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert holding.wait(5)
        code = run_in_child(lambda: store.reserve("k", 1.0, 10.0, expires) == (True, 2.0))
    finally:
        release.set()
        holder.join(5)
    assert code == 0
    assert store.get("k") == 1.0


def test_memory_store_drops_expired_keys_once_it_grows() -> None:
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    store.reserve("live", 1.0, 10.0, 1000.0)
    for index in range(_SWEEP_AT - 2):
        store.reserve(f"old-{index}", 1.0, 10.0, 10.0)
    assert len(store._entries) == _SWEEP_AT - 1
    now[0] = 20.0
    store.reserve("new", 1.0, 10.0, 1000.0)
    assert sorted(store._entries) == ["live", "new"]


def assert_unavailable_quickly(store: RedisStore) -> None:
    for call in (
        lambda: store.reserve("k", 1.0, 10.0, in_seconds(60)),
        lambda: store.adjust("k", 1.0, in_seconds(60)),
        lambda: store.get("k"),
    ):
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            call()
        assert time.monotonic() - started < 2.0


def test_redis_with_nothing_listening_raises_store_unavailable_quickly() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    assert_unavailable_quickly(store)


def test_redis_that_never_answers_times_out_as_store_unavailable() -> None:
    # The kernel completes the connection into the backlog, but nothing ever reads or replies.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        store = RedisStore(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", timeout_seconds=0.25)
        assert_unavailable_quickly(store)


def test_redis_stopped_mid_test_raises_store_unavailable() -> None:
    with RedisServer() as server:
        store = RedisStore(server.url)
        assert store.reserve("k", 1.0, 10.0, in_seconds(60)) == (True, 1.0)
        server.stop()
        assert_unavailable_quickly(store)


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(ImportError, match=r"pip install otel-llm\[redis\]"):
        RedisStore("redis://127.0.0.1:1/0")


def test_harness_leaves_no_process_behind() -> None:
    server = RedisServer().start()
    pid, workdir = server.pid, Path(server.workdir)
    assert pid is not None and server.ping()
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5.0  # stopped by its signal, not the SIGKILL fallback
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not server.ping()
    assert not workdir.exists()
