"""One base for the context managers that are also decorators (`expect`, `attributes`): each
adds a layer to a context variable for the code inside, so the layer follows that code into
asyncio tasks and nests.

Plain threads start with an empty context, so while instrumented, `threading.Thread.start` and
`ThreadPoolExecutor.submit` carry these layers (and only these: the app's own context variables
are left alone) into the thread or task they start. A pool's own threads carry none: each task
runs with exactly its submitter's layers, none when it had none.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import wrapt

# Every layer's context variable (registered by the subclasses).
_LAYER_VARS: list[contextvars.ContextVar[Any]] = []

# The layers entered with `with` and their tokens, per context (not on the layer object), so one
# object, e.g. a module-level `SUPPORT = otel_llm.attributes(...)`, serves concurrent tasks and threads.
_ENTERED: contextvars.ContextVar[tuple[tuple[Any, contextvars.Token[Any]], ...]] = contextvars.ContextVar(
    "otel_llm_entered_layers", default=()
)


class ContextLayer:
    """Subclasses set `_var` (the context variable) and implement `_add(current) -> new value`."""

    _var: contextvars.ContextVar[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "_var" in cls.__dict__:
            _LAYER_VARS.append(cls._var)

    def _add(self, current: Any) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        token = self._var.set(self._add(self._var.get()))
        _ENTERED.set((*_ENTERED.get(), (self, token)))
        return self

    def __exit__(self, *exc: Any) -> None:
        entered = _ENTERED.get()
        # Its latest entry, found by identity: a generator's block may have been left open across a yield.
        index = max(i for i, (layer, _) in enumerate(entered) if layer is self)
        _ENTERED.set(entered[:index] + entered[index + 1 :])
        self._var.reset(entered[index][1])

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        var, add = self._var, self._add

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = var.set(add(var.get()))
                try:
                    return await fn(*args, **kwargs)
                finally:
                    var.reset(token)

            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = var.set(add(var.get()))
            try:
                return fn(*args, **kwargs)
            finally:
                var.reset(token)

        return wrapper


# -- into threads ------------------------------------------------------------------------------------


Layers = tuple[tuple[contextvars.ContextVar[Any], Any], ...]


def _captured() -> Layers:
    """Every layer's value here (the default when none is in effect)."""
    return tuple((var, var.get()) for var in _LAYER_VARS)


def _run_with(layers: Layers, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    # Positional-only, so a task may take keywords named `layers` or `fn`.
    tokens = [(var, var.set(value)) for var, value in layers]
    try:
        return fn(*args, **kwargs)
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


# False once uninstrumented: our wrappers then pass through (see stop_carrying_into_threads).
_carrying = False

# Set while ThreadPoolExecutor.submit runs: the threads it starts serve every later task, so they
# must not keep the layers of the task that happened to start them.
_submitting = threading.local()


def _thread_start(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _carrying:
        return wrapped(*args, **kwargs)
    layers = _captured()
    if any(value for _, value in layers) and not getattr(_submitting, "active", False):
        # An instance attribute, so subclasses that override run() are covered too.
        instance.run = functools.partial(_run_with, layers, instance.run)
    return wrapped(*args, **kwargs)


def _executor_submit(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    if not _carrying or not args or _pickles_tasks(instance):
        return wrapped(*args, **kwargs)
    # Even with no layer here: the task must not see what an earlier task left on its thread.
    task = functools.partial(_run_with, _captured(), args[0])
    previous = getattr(_submitting, "active", False)
    _submitting.active = True
    try:
        return wrapped(task, *args[1:], **kwargs)
    finally:
        _submitting.active = previous


def _pickles_tasks(executor: ThreadPoolExecutor) -> bool:
    """Python 3.14's InterpreterPoolExecutor is a ThreadPoolExecutor whose tasks are pickled."""
    interpreter = sys.modules.get("concurrent.futures.interpreter")
    return interpreter is not None and isinstance(executor, interpreter.InterpreterPoolExecutor)


_THREAD_PATCHES = (
    (threading.Thread, "start", _thread_start),
    (ThreadPoolExecutor, "submit", _executor_submit),
)
# (owner, name) -> (the original, our wrapper) while our wrapper is on the class.
_installed: dict[tuple[type, str], tuple[Any, Any]] = {}


def carry_into_threads() -> None:
    """Idempotent: patch Thread.start and ThreadPoolExecutor.submit (not ProcessPoolExecutor,
    whose tasks are pickled)."""
    global _carrying
    _carrying = True
    for owner, name, hook in _THREAD_PATCHES:
        if (owner, name) not in _installed:
            original = vars(owner)[name]
            _installed[owner, name] = (original, wrapt.wrap_function_wrapper(owner, name, hook))


def stop_carrying_into_threads() -> None:
    global _carrying
    _carrying = False
    for (owner, name), (original, ours) in list(_installed.items()):
        # Another library may have wrapped ours since: restoring the original would drop its patch
        # too, so then ours stays, passing through.
        if vars(owner).get(name) is ours:
            setattr(owner, name, original)
            del _installed[owner, name]
