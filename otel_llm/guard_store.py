"""Shared counters for the guards (cost budgets, rate limits, loop guard): in-process or Redis.

Every counter is a float total under a key that expires at a given UNIX time (the end of the
guard's window); an expired or missing key counts as 0. `reserve` is the one check-and-add that
must be atomic, so two calls can never both squeeze under the same limit.

* `MemoryStore` (the default) counts inside one process. After `os.fork()` the child keeps a
  copy of the parent's counts and counts on its own from there.
* `RedisStore` (`pip install otel-llm[redis]`) shares the counts between processes and hosts.
  Expiry follows the Redis server's clock.

An `expires_at` already in the past means the window is over: the call is answered against 0
and nothing is stored (an existing key is left as it is).
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

# Slack for float error, so that reserving exactly up to a limit in steps such as 0.1 + 0.2 works.
EPSILON = 1e-9

# MemoryStore drops expired entries once it holds this many keys (then at twice the live count),
# so keys of past windows cannot pile up; the sweep is amortised over the inserts.
_SWEEP_AT = 10_000


class StoreUnavailable(Exception):
    """The shared store could not be reached (Redis down, timeout). Guards decide fail-open/closed."""


@runtime_checkable
class GuardStore(Protocol):
    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> tuple[bool, float]:
        """Atomically: if current + amount <= limit (+ EPSILON): add amount and return
        (True, new_total); otherwise change nothing and return (False, current).
        `amount` may be 0 (a pure check). The key expires at `expires_at` (UNIX epoch seconds,
        UTC); an expired key counts as 0. Raises StoreUnavailable when the backend is unreachable."""
        ...

    def adjust(self, key: str, delta: float, expires_at: float) -> float:
        """Atomically add `delta` (may be negative: reconciling a reservation with the actual
        cost; never take the total below 0) and return the new total; same expiry rule."""
        ...

    def get(self, key: str) -> float:
        """Current total (0 when missing or expired)."""
        ...


def _check_finite(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")


def _check_reserve(amount: float, limit: float, expires_at: float) -> None:
    _check_finite(amount=amount, limit=limit, expires_at=expires_at)
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount!r}; give back with adjust()")


def _window_over(expires_at: float) -> bool:
    return expires_at <= time.time()


def _reserve_against_zero(amount: float, limit: float) -> tuple[bool, float]:
    """The answer of `reserve` for a window that is already over."""
    return (True, amount) if amount <= limit + EPSILON else (False, 0.0)


class MemoryStore:
    """Counters in a dict behind one lock; thread-safe, and asyncio-safe because no call awaits.

    After `os.fork()` the child gets a new lock (one held by another thread at fork time would
    never be released in the child) and keeps the parent's counts. Each update is a single dict
    assignment, so the copied dict is never half-updated.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (total, expires_at)
        self._sweep_at = _SWEEP_AT
        _MEMORY_STORES.add(self)

    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> tuple[bool, float]:
        _check_reserve(amount, limit, expires_at)
        with self._lock:
            now = self._clock()
            if expires_at <= now:
                return _reserve_against_zero(amount, limit)
            current = self._current(key, now)
            if current + amount > limit + EPSILON:
                return False, current
            if amount == 0:
                return True, current
            total = current + amount
            self._store(key, total, expires_at)
            return True, total

    def adjust(self, key: str, delta: float, expires_at: float) -> float:
        _check_finite(delta=delta, expires_at=expires_at)
        with self._lock:
            now = self._clock()
            if expires_at <= now:
                return max(delta, 0.0)
            total = self._current(key, now) + delta
            if total <= 0:
                self._entries.pop(key, None)
                return 0.0
            self._store(key, total, expires_at)
            return total

    def get(self, key: str) -> float:
        with self._lock:
            return self._current(key, self._clock())

    def _current(self, key: str, now: float) -> float:
        entry = self._entries.get(key)
        if entry is None:
            return 0.0
        total, expires_at = entry
        if expires_at <= now:
            del self._entries[key]
            return 0.0
        return total

    def _store(self, key: str, total: float, expires_at: float) -> None:
        self._entries[key] = (total, expires_at)
        if len(self._entries) >= self._sweep_at:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            self._sweep_at = max(_SWEEP_AT, 2 * len(self._entries))

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


# One fork hook for all stores; a WeakSet so that registering does not keep stores alive.
_MEMORY_STORES: weakref.WeakSet[MemoryStore] = weakref.WeakSet()


def _renew_locks_after_fork() -> None:
    for store in list(_MEMORY_STORES):
        store._after_fork_in_child()


os.register_at_fork(after_in_child=_renew_locks_after_fork)


# KEYS[1] = key; ARGV = amount, limit + EPSILON, expires_at in ms. Returns {1|0, total as string}.
# Totals are passed as Redis's own strings so no precision is lost on the way back.
_RESERVE_LUA = """
local raw = redis.call('GET', KEYS[1]) or '0'
local amount = tonumber(ARGV[1])
if tonumber(raw) + amount > tonumber(ARGV[2]) then
  return {0, raw}
end
if amount == 0 then
  return {1, raw}
end
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
return {1, total}
"""

# KEYS[1] = key; ARGV = delta, expires_at in ms. A total at or below 0 deletes the key (counts 0).
_ADJUST_LUA = """
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
if tonumber(total) <= 0 then
  redis.call('DEL', KEYS[1])
  return '0'
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return total
"""


class RedisStore:
    """Counters in Redis, updated by Lua scripts so each call is atomic across processes.

    Connect and read timeouts are `timeout_seconds` and nothing is retried, so an unreachable
    Redis costs a call at most about that long before StoreUnavailable. The calls block, so in
    asyncio code they hold the event loop for up to that long. A read that times out may still
    have been applied by Redis: the count can then include that reservation (it errs on the
    side of counting). redis-py's connection pool notices a fork and opens new connections.
    """

    def __init__(self, url: str, *, prefix: str = "otel_llm:", timeout_seconds: float = 0.25) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError as exc:
            raise ImportError("RedisStore needs the redis package: pip install otel-llm[redis]") from exc
        self.prefix = prefix
        self._client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            # No retries, whatever the redis-py release's default: a retry with backoff would stall
            # the app's call, and re-running a reservation whose reply was lost could count it twice.
            retry=Retry(NoBackoff(), 0),
        )
        self._reserve_script = self._client.register_script(_RESERVE_LUA)
        self._adjust_script = self._client.register_script(_ADJUST_LUA)
        self._unavailable = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)

    def reserve(self, key: str, amount: float, limit: float, expires_at: float) -> tuple[bool, float]:
        _check_reserve(amount, limit, expires_at)
        if _window_over(expires_at):
            return _reserve_against_zero(amount, limit)
        ok, total = self._call(
            self._reserve_script,
            key,
            repr(float(amount)),
            repr(float(limit) + EPSILON),
            _milliseconds(expires_at),
        )
        return bool(ok), float(total)

    def adjust(self, key: str, delta: float, expires_at: float) -> float:
        _check_finite(delta=delta, expires_at=expires_at)
        if _window_over(expires_at):
            return max(delta, 0.0)
        return float(self._call(self._adjust_script, key, repr(float(delta)), _milliseconds(expires_at)))

    def get(self, key: str) -> float:
        try:
            raw = self._client.get(self.prefix + key)
        except self._unavailable as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc}") from exc
        return float(raw) if raw is not None else 0.0

    def _call(self, script: Any, key: str, *args: str) -> Any:
        try:
            return script(keys=[self.prefix + key], args=list(args))
        except self._unavailable as exc:
            raise StoreUnavailable(f"Redis unavailable: {exc}") from exc

    def close(self) -> None:
        """Close the pooled connections (they reopen on the next call)."""
        self._client.close()


def _milliseconds(expires_at: float) -> str:
    # Rounded up so the key never expires before the window ends.
    return str(math.ceil(expires_at * 1000))
