"""One base for the context managers that are also decorators (`expect`, `attributes`): each
adds a layer to a context variable for the code inside, so the layer follows that code into
asyncio tasks (and threads started with a copied context) and nests."""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable
from typing import Any


class ContextLayer:
    """Subclasses set `_var` (the context variable) and implement `_add(current) -> new value`."""

    _var: contextvars.ContextVar[Any]

    def _add(self, current: Any) -> Any:
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.__dict__.setdefault("_tokens", []).append(self._var.set(self._add(self._var.get())))
        return self

    def __exit__(self, *exc: Any) -> None:
        self._var.reset(self._tokens.pop())

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
