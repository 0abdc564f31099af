"""A daemon thread draining a queue: how metric recording and content redaction leave the
caller's thread. Fork-aware: a forked child has no threads, so its first use starts its own."""

from __future__ import annotations

import os
import queue
import threading
from typing import Any


class BackgroundWorker:
    # Items already queued that one handle_batch() call may take (it never waits for more).
    max_batch = 1
    # The otel_llm.step under which a batch that raised is counted (the metric worker keeps this).
    step = "metrics"

    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None

    def handle(self, item: Any) -> None:
        raise NotImplementedError

    def handle_batch(self, items: list[Any]) -> None:
        for item in items:
            self.handle(item)

    def batch_failed(self, items: list[Any], exc: Exception) -> None:
        """A batch raised: count it; the thread goes on with the next one."""
        from .telemetry import STATE, report_self_error

        if STATE.core is not None:
            STATE.core.self_error(self.step, exc)
        else:
            report_self_error(self.step, exc)

    def on_start(self, first: bool) -> None:
        """Called (under the start lock) before the thread starts in this process."""

    def ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            first = self._pid is None
            self._queue = queue.SimpleQueue()  # a queue copied by fork may hold a held lock
            self.on_start(first)
            threading.Thread(target=self._run, name=self.name, daemon=True).start()
            self._pid = os.getpid()

    def put(self, item: Any) -> None:
        self.ensure_started()
        self._queue.put(item)

    def backlog(self) -> int:
        return self._queue.qsize() if self._pid == os.getpid() else 0

    def drain(self, timeout_seconds: float = 5.0) -> bool:
        """Wait until everything queued so far is handled; False when the deadline passed."""
        if self._pid != os.getpid():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_seconds)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch and not isinstance(batch[-1], threading.Event):
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = batch.pop() if isinstance(batch[-1], threading.Event) else None
            if batch:
                self._handle_batch_safely(batch)
            if done is not None:  # a drain() marker: everything queued before it is handled
                done.set()

    def _handle_batch_safely(self, batch: list[Any]) -> None:
        # The thread is never restarted: an exception escaping here would stop all later work.
        try:
            self.handle_batch(batch)
        except Exception as exc:
            try:
                self.batch_failed(batch, exc)
            except Exception:  # noqa: S110 - counting the failure must not stop the thread either
                pass
