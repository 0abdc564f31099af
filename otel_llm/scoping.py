"""One base for the context managers that are also decorators (`expect`, `attributes`): each
adds a layer to a context variable for the code inside, so the layer follows that code into
asyncio tasks and nests.

Plain threads start with an empty context, so while instrumented, `threading.Thread.start` and
`ThreadPoolExecutor.submit` carry these layers (and only these: the app's own context variables
are left alone) into the thread or task they start. A pool's own threads carry none: each task
runs with exactly its submitter's layers, none when it had none, and without the last call of an
earlier task (`fresh_in_each_task`).
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
        mine = [i for i, (layer, _) in enumerate(entered) if layer is self]
        if not mine:  # entered in another context (a generator resumed from another thread)
            return
        index = mine[-1]
        _ENTERED.set(entered[:index] + entered[index + 1 :])
        self._var.reset(entered[index][1])

    async def __aenter__(self) -> Any:
        return self.__enter__()

    async def __aexit__(self, *exc: Any) -> None:
        self.__exit__(*exc)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        var, add = self._var, self._add

        # Generators run their body step by step, each time the consumer resumes them: the layer is
        # set around each step (send, throw and close are passed on, so the body sees them as usual).
        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                step = _Step(var, add)
                generator = fn(*args, **kwargs)
                resume = functools.partial(generator.send, None)
                while True:
                    with step:
                        try:
                            item = resume()
                        except StopIteration as stop:
                            return stop.value
                    try:
                        sent = yield item
                    except GeneratorExit:
                        with step:
                            generator.close()
                        raise
                    except BaseException as exc:
                        resume = functools.partial(generator.throw, exc)
                    else:
                        resume = functools.partial(generator.send, sent)

            return generator_wrapper

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                step = _Step(var, add)
                generator = fn(*args, **kwargs)
                resume = functools.partial(generator.asend, None)
                while True:
                    with step:
                        try:
                            item = await resume()
                        except StopAsyncIteration:
                            return
                    try:
                        sent = yield item
                    except GeneratorExit:
                        with step:
                            await generator.aclose()
                        raise
                    except BaseException as exc:
                        resume = functools.partial(generator.athrow, exc)
                    else:
                        resume = functools.partial(generator.asend, sent)

            return async_generator_wrapper

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


_NO_STEP_YET = object()


class _Step:
    """The layer around one step of a decorated generator, on top of what the consumer has then."""

    def __init__(self, var: contextvars.ContextVar[Any], add: Callable[[Any], Any]) -> None:
        self.var, self.add = var, add
        self.outer: Any = _NO_STEP_YET  # the consumer's value at the last step
        self.inner: Any = None  # the value when the last step ended

    def __enter__(self) -> None:
        outer = self.var.get()
        # A block the body entered itself stays open across its yields (unless the consumer's
        # layers changed in between: then the layer goes on top of those).
        self.token = self.var.set(self.inner if outer is self.outer else self.add(outer))
        self.outer = outer

    def __exit__(self, *exc: Any) -> None:
        self.inner = self.var.get()
        self.var.reset(self.token)


# -- into threads ------------------------------------------------------------------------------------


Layers = tuple[tuple[contextvars.ContextVar[Any], Any], ...]


# Context variables each pool task starts with empty, whatever earlier tasks on its thread set
# (registered by their modules: the last call, the target of a bare record_feedback()).
_FRESH_IN_EACH_TASK: list[tuple[contextvars.ContextVar[Any], Any]] = []


def fresh_in_each_task(var: contextvars.ContextVar[Any], empty: Any) -> None:
    _FRESH_IN_EACH_TASK.append((var, empty))


def _captured() -> Layers:
    """Every layer's value here (the default when none is in effect), and the empty value of each
    variable that starts fresh in each task."""
    return (*((var, var.get()) for var in _LAYER_VARS), *_FRESH_IN_EACH_TASK)


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
