"""Guards that act on a call before it reaches the provider: cost budgets, rate limits and the
runaway-loop guard. Only guards the app configured act (raise, wait); the decisions are recorded.

Each guard counts in a `guard_store` (in-process by default, Redis for many processes) with one
atomic check-and-add, so concurrent calls cannot overshoot a limit:

* a budget reserves the call's worst-case cost (estimated input plus `max_tokens` of output, times
  `n`) in its window before the call and gives back the difference to the actual cost after it;
* a rate limit takes one request (and the estimated input tokens) from the current minute, and
  reconciles the tokens with the usage after the call;
* the loop guard counts the same request fingerprint (model and messages) in its window.

Guards run even when telemetry is disabled (`OTEL_SDK_DISABLED`): they protect money, not
dashboards.
"""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .guard_store import GuardStore, MemoryStore, StoreUnavailable

__all__ = [
    "Budget",
    "BudgetExceededError",
    "GuardError",
    "LoopDetectedError",
    "LoopGuard",
    "RateLimit",
    "RateLimitedError",
    "guard_key",
]

WINDOWS = ("minute", "hour", "day", "month")
BUDGET_SCOPES = ("global", "model", "feature", "key")
BUDGET_ACTIONS = ("warn", "block")
RATE_ACTIONS = ("wait", "reject")
LOOP_ACTIONS = ("warn", "block")
# Input tokens estimated before a call: about four characters of text per token (OpenAI's rule of
# thumb for English), rounded up, plus a few per message for the chat format.
CHARS_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4

_log = logging.getLogger("otel_llm")


class GuardError(Exception):
    """A configured guard stopped a call before it was sent (nothing was spent)."""

    guard = "guard"

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


class BudgetExceededError(GuardError):
    guard = "budget"


class RateLimitedError(GuardError):
    guard = "rate_limit"


class LoopDetectedError(GuardError):
    guard = "loop"


def _choice(what: str, value: Any, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ValueError(f"{what} must be one of {accepted}, got {value!r}")


def _positive(what: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{what} must be a positive number, got {value!r}")


@dataclass(frozen=True)
class Budget:
    """Spend at most `limit_usd` per UTC calendar `window` (minute, hour, day, month), counted
    globally, per request model, per feature (`otel_llm.attributes(feature=...)`) or per
    app-supplied key (`otel_llm.guard_key(...)`). `block`
    raises BudgetExceededError before the provider is called; `warn` records and lets it pass."""

    limit_usd: float
    window: str = "day"
    scope: str = "global"
    action: str = "block"
    name: str | None = None
    # output tokens assumed for a call without max_tokens when reserving its worst case
    default_max_tokens: int = 4096

    def __post_init__(self) -> None:
        _positive("Budget.limit_usd", self.limit_usd)
        _choice("Budget.window", self.window, WINDOWS)
        _choice("Budget.scope", self.scope, BUDGET_SCOPES)
        _choice("Budget.action", self.action, BUDGET_ACTIONS)
        _positive("Budget.default_max_tokens", self.default_max_tokens)

    @property
    def label(self) -> str:
        return self.name or f"{self.scope}-{self.window}"


@dataclass(frozen=True)
class RateLimit:
    """At most `requests_per_minute` calls and `tokens_per_minute` tokens (input and output; the
    input estimated before the call, corrected with the usage after) per UTC minute, globally,
    per model, per feature or per key.
    `wait` sleeps until the next minute (at most `max_wait_seconds`, then RateLimitedError);
    `reject` raises RateLimitedError at once."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    scope: str = "global"
    action: str = "wait"
    max_wait_seconds: float = 60.0
    name: str | None = None

    def __post_init__(self) -> None:
        if self.requests_per_minute is None and self.tokens_per_minute is None:
            raise ValueError("RateLimit needs requests_per_minute, tokens_per_minute or both")
        _positive("RateLimit.requests_per_minute", self.requests_per_minute, allow_none=True)
        _positive("RateLimit.tokens_per_minute", self.tokens_per_minute, allow_none=True)
        _choice("RateLimit.scope", self.scope, BUDGET_SCOPES)
        _choice("RateLimit.action", self.action, RATE_ACTIONS)
        _positive("RateLimit.max_wait_seconds", self.max_wait_seconds)

    @property
    def label(self) -> str:
        return self.name or f"{self.scope}-rate"


@dataclass(frozen=True)
class LoopGuard:
    """The same request (model and messages) sent more than `max_repeats` times within `window`
    seconds is a runaway loop: `block` raises LoopDetectedError, `warn` records. Counts are kept
    per window-long slot and a call counts the slot before too, so a loop across a slot boundary
    is caught as well (a repeat up to two windows apart may count)."""

    max_repeats: int = 5
    window: float = 60.0
    action: str = "block"

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_repeats, bool)
            or not isinstance(self.max_repeats, int)
            or self.max_repeats < 1
        ):
            raise ValueError(f"LoopGuard.max_repeats must be an integer >= 1, got {self.max_repeats!r}")
        _positive("LoopGuard.window", self.window)
        _choice("LoopGuard.action", self.action, LOOP_ACTIONS)


_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("otel_llm_guard_key", default=None)


@contextmanager
def guard_key(key: str) -> Iterator[None]:
    """Count the calls made inside under `key` for guards with scope "key" (a tenant, a user)."""
    if not isinstance(key, str) or not key:
        raise ValueError("guard_key needs a non-empty string")
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)


# -- windows ---------------------------------------------------------------------------------------


def window_of(window: str, now: float) -> tuple[str, float]:
    """(label of the UTC calendar period holding `now`, its end as a UNIX time)."""
    t = datetime.fromtimestamp(now, UTC)
    if window == "minute":
        start = t.replace(second=0, microsecond=0)
        return start.strftime("%Y%m%dT%H%M"), start.timestamp() + 60
    if window == "hour":
        start = t.replace(minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%dT%H"), start.timestamp() + 3600
    if window == "day":
        start = t.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("%Y%m%d"), start.timestamp() + 86400
    start = t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start.strftime("%Y%m"), following.timestamp()


# -- what a call needs ------------------------------------------------------------------------------


@dataclass
class CallInfo:
    provider: str
    model: str | None
    kwargs: dict[str, Any]


def estimate_input_tokens(kwargs: dict[str, Any]) -> int:
    """A documented heuristic: characters of every string in the request's messages (or prompt,
    input, system) divided by four, plus four per message."""
    chars = 0
    messages = 0
    for key in ("messages", "input", "prompt", "system", "instructions", "tools"):
        value = kwargs.get(key)
        if value is None:
            continue
        if key == "messages" and isinstance(value, list):
            messages += len(value)
        chars += _chars(value)
    return -(-chars // CHARS_PER_TOKEN) + TOKENS_PER_MESSAGE * messages


def _chars(value: Any, depth: int = 0) -> int:
    if isinstance(value, str):
        return len(value)
    if depth > 20:
        return 0
    if isinstance(value, dict):
        return sum(_chars(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(_chars(v, depth + 1) for v in value)
    return 0


def max_output_tokens(kwargs: dict[str, Any], default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = kwargs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return default


def choices(kwargs: dict[str, Any]) -> int:
    n = kwargs.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def fingerprint(info: CallInfo) -> str:
    body = {key: info.kwargs.get(key) for key in ("messages", "input", "prompt", "system", "tools")}
    text = json.dumps([info.provider, info.model, body], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# -- the guards at work -----------------------------------------------------------------------------


@dataclass
class Decision:
    guard: str  # budget | rate_limit | loop
    decision: str  # allow | warn | block | wait | reject
    name: str


@dataclass
class Ticket:
    """What a call reserved, to reconcile with its actual usage; and the decisions made."""

    decisions: list[Decision] = field(default_factory=list)
    # (key, amount reserved, expires_at, kind) with kind "cost" or "tokens"
    reservations: list[tuple[str, float, float, str]] = field(default_factory=list)
    # the store could not be reached for this call (the guards failed open or closed)
    store_unavailable: bool = False


class Guards:
    def __init__(
        self,
        budgets: tuple[Budget, ...] = (),
        rate_limits: tuple[RateLimit, ...] = (),
        loop_guard: LoopGuard | None = None,
        store: GuardStore | None = None,
        fail_open: bool = True,
        prices: Any = None,
    ) -> None:
        self.budgets = budgets
        self.rate_limits = rate_limits
        self.loop_guard = loop_guard
        self.store = store if store is not None else MemoryStore()
        self.fail_open = fail_open
        self.prices = prices
        self._warned_unavailable = False
        # scope values each budget has counted in this process (for its gauges), bounded
        self._scopes: dict[str, set[str]] = {
            b.label: ({"all"} if b.scope == "global" else set()) for b in budgets
        }

    def scopes_seen(self, budget: Budget) -> list[str]:
        return sorted(self._scopes.get(budget.label, ()))

    @property
    def active(self) -> bool:
        return bool(self.budgets or self.rate_limits or self.loop_guard)

    # -- before the call ---------------------------------------------------------------------

    def before(self, info: CallInfo, ticket: Ticket) -> Ticket:
        """Check every guard, noting decisions in `ticket`; raises a GuardError to stop the call
        (after giving back what this call reserved), or sleeps for a `wait` rate limit."""
        try:
            if self.loop_guard is not None:
                self._loop(info, ticket)
            for limit in self.rate_limits:
                self._rate(info, limit, ticket, blocking_sleep=time.sleep)
            for budget in self.budgets:
                self._budget(info, budget, ticket)
        except GuardError:
            self.release(ticket)
            raise
        return ticket

    async def before_async(self, info: CallInfo, ticket: Ticket) -> Ticket:
        """As `before`, sleeping with asyncio so the event loop keeps running."""
        try:
            if self.loop_guard is not None:
                self._loop(info, ticket)
            for limit in self.rate_limits:
                while True:
                    wait = self._rate(info, limit, ticket, blocking_sleep=None)
                    if wait is None:
                        break
                    await asyncio.sleep(wait)
            for budget in self.budgets:
                self._budget(info, budget, ticket)
        except GuardError:
            self.release(ticket)
            raise
        return ticket

    def _scope_key(self, scope: str, info: CallInfo) -> str | None:
        if scope == "global":
            return "all"
        if scope == "model":
            return f"model={info.model}"
        if scope == "feature":
            from . import attribution

            feature = attribution.feature()
            return None if feature is None else f"feature={feature}"
        key = _KEY.get()
        return None if key is None else f"key={key}"

    def _reserve(
        self, key: str, amount: float, limit: float, expires_at: float, ticket: Ticket
    ) -> bool | None:
        """The store's reserve; None when the store is unreachable (the guard then fails open or
        closed as configured)."""
        try:
            ok, _ = self.store.reserve(key, amount, limit, expires_at)
            return ok
        except StoreUnavailable as exc:
            ticket.store_unavailable = True
            if not self._warned_unavailable:
                self._warned_unavailable = True
                _log.warning(
                    "otel-llm guards: the guard store is unreachable (%s); failing %s",
                    type(exc).__name__,
                    "open" if self.fail_open else "closed",
                )
            return None

    def _unavailable(self, error: type[GuardError], name: str, ticket: Ticket, guard: str) -> None:
        if self.fail_open:
            ticket.decisions.append(Decision(guard, "allow", name))
            return
        ticket.decisions.append(Decision(guard, "block" if guard != "rate_limit" else "reject", name))
        raise error(f"{guard} {name!r}: the guard store is unreachable and the guard fails closed", name)

    def _loop(self, info: CallInfo, ticket: Ticket) -> None:
        guard = self.loop_guard
        now = time.time()
        slot = int(now // guard.window)
        # (kept for the next slot too, which counts this one)
        expires_at = (slot + 2) * guard.window
        request = fingerprint(info)
        try:
            before = self.store.get(f"loop:{request}:{slot - 1}")
        except StoreUnavailable:
            before = 0.0
        ok = self._reserve(f"loop:{request}:{slot}", 1.0, guard.max_repeats - before, expires_at, ticket)
        if ok is None:
            self._unavailable(LoopDetectedError, "loop", ticket, "loop")
            return
        if ok:
            ticket.decisions.append(Decision("loop", "allow", "loop"))
            return
        if guard.action == "warn":
            ticket.decisions.append(Decision("loop", "warn", "loop"))
            return
        ticket.decisions.append(Decision("loop", "block", "loop"))
        raise LoopDetectedError(
            f"the same request was sent more than {guard.max_repeats} times within "
            f"{guard.window:g} s (a runaway loop?); blocked before reaching the provider",
            "loop",
        )

    def _rate(self, info: CallInfo, limit: RateLimit, ticket: Ticket, blocking_sleep: Any) -> float | None:
        """Take this call's share of the minute. Returns seconds to wait (async callers sleep and
        retry) or None once taken; sync callers sleep here."""
        scope = self._scope_key(limit.scope, info)
        if scope is None:
            return None
        tokens = estimate_input_tokens(info.kwargs)
        deadline = time.monotonic() + limit.max_wait_seconds
        waited = False
        while True:
            label, expires_at = window_of("minute", time.time())
            base = f"rate:{limit.label}:{scope}:{label}"
            taken: list[tuple[str, float, float, str]] = []
            ok: bool | None = True
            if limit.requests_per_minute is not None:
                ok = self._reserve(
                    f"{base}:requests", 1.0, float(limit.requests_per_minute), expires_at, ticket
                )
                if ok:
                    taken.append((f"{base}:requests", 1.0, expires_at, "requests"))
            if ok and limit.tokens_per_minute is not None:
                ok = self._reserve(
                    f"{base}:tokens", float(tokens), float(limit.tokens_per_minute), expires_at, ticket
                )
                if ok:
                    taken.append((f"{base}:tokens", float(tokens), expires_at, "tokens"))
            if ok is None:
                self._give_back(taken)
                self._unavailable(RateLimitedError, limit.label, ticket, "rate_limit")
                return None
            if ok:
                ticket.reservations += taken
                ticket.decisions.append(Decision("rate_limit", "wait" if waited else "allow", limit.label))
                return None
            self._give_back(taken)
            pause = expires_at - time.time() + 0.01
            if limit.action == "reject" or time.monotonic() + pause > deadline:
                ticket.decisions.append(Decision("rate_limit", "reject", limit.label))
                raise RateLimitedError(
                    f"rate limit {limit.label!r} reached for this minute"
                    + (f" (waited up to {limit.max_wait_seconds:g} s)" if limit.action == "wait" else ""),
                    limit.label,
                )
            waited = True
            if blocking_sleep is None:
                return max(pause, 0.0)
            blocking_sleep(max(pause, 0.0))

    def _budget(self, info: CallInfo, budget: Budget, ticket: Ticket) -> None:
        scope = self._scope_key(budget.scope, info)
        if scope is None:
            return
        worst = self._worst_case_cost(info, budget)
        if worst is None:  # no price: the call passes and is counted as unpriced
            ticket.decisions.append(Decision("budget", "allow", budget.label))
            return
        seen = self._scopes.setdefault(budget.label, set())
        if len(seen) < 100:
            seen.add(scope)
        label, expires_at = window_of(budget.window, time.time())
        key = f"budget:{budget.label}:{scope}:{label}"
        ok = self._reserve(key, worst, budget.limit_usd, expires_at, ticket)
        if ok is None:
            self._unavailable(BudgetExceededError, budget.label, ticket, "budget")
            return
        if ok:
            ticket.reservations.append((key, worst, expires_at, "cost"))
            ticket.decisions.append(Decision("budget", "allow", budget.label))
            return
        if budget.action == "warn":
            # let it pass but count what it spends
            self._adjust(key, worst, expires_at)
            ticket.reservations.append((key, worst, expires_at, "cost"))
            ticket.decisions.append(Decision("budget", "warn", budget.label))
            return
        ticket.decisions.append(Decision("budget", "block", budget.label))
        raise BudgetExceededError(
            f"budget {budget.label!r} ({budget.limit_usd:g} USD per {budget.window}) would be exceeded "
            f"by this call's worst case ({worst:.6f} USD); blocked before reaching the provider",
            budget.label,
        )

    def _worst_case_cost(self, info: CallInfo, budget: Budget) -> float | None:
        if self.prices is None or info.model is None:
            return None
        n = choices(info.kwargs)
        cost = self.prices.cost(
            info.provider,
            info.model,
            estimate_input_tokens(info.kwargs) * n,
            max_output_tokens(info.kwargs, budget.default_max_tokens) * n,
        )
        return None if cost is None else cost.usd

    # -- after the call -----------------------------------------------------------------------

    def after(
        self, ticket: Ticket, info: CallInfo, usage: tuple[int | None, int | None, int, int] | None
    ) -> None:
        """Reconcile reservations with the actual usage (input, output, cache read, cache write
        tokens); without usage (a failed call, a stream read without telemetry) a cost
        reservation is given back only when the call failed before any output (`usage` None)."""
        if not ticket.reservations:
            return
        actual_cost = None
        if usage is not None and usage[0] is not None and usage[1] is not None and info.model and self.prices:
            priced = self.prices.cost(info.provider, info.model, usage[0], usage[1], usage[2], usage[3])
            actual_cost = None if priced is None else priced.usd
        for key, reserved, expires_at, kind in ticket.reservations:
            if kind == "cost":
                if actual_cost is not None:
                    self._adjust(key, actual_cost - reserved, expires_at)
                elif usage is None:
                    self._adjust(key, -reserved, expires_at)
            elif kind == "tokens" and usage is not None and usage[0] is not None:
                self._adjust(key, float(usage[0] + (usage[1] or 0)) - reserved, expires_at)

    def release(self, ticket: Ticket) -> None:
        """Give back everything a call reserved (it was stopped, or failed before it was sent)."""
        self._give_back(ticket.reservations)
        ticket.reservations = []

    def _give_back(self, taken: list[tuple[str, float, float, str]]) -> None:
        for key, amount, expires_at, _ in taken:
            self._adjust(key, -amount, expires_at)

    def _adjust(self, key: str, delta: float, expires_at: float) -> None:
        try:
            self.store.adjust(key, delta, expires_at)
        except StoreUnavailable:
            pass  # a correction lost with the store; its next reserve fails open or closed as set

    def spent(self, budget: Budget, scope: str = "all") -> float:
        """What the budget's current window holds for a scope ("all", "model=...", "key=...")."""
        label, _ = window_of(budget.window, time.time())
        try:
            return self.store.get(f"budget:{budget.label}:{scope}:{label}")
        except StoreUnavailable:
            return float("nan")
