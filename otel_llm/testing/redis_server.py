"""A real redis-server on a free loopback port in a temporary directory, stopped by process group.

    with RedisServer() as server:
        store = RedisStore(server.url)

Nothing is persisted (`--save ''`, `--appendonly no`) and it listens on 127.0.0.1 only. Needs the
`redis-server` binary (Debian package redis-server; `make test` installs it).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from .stack import Service, StackError, find_binary, free_port


class RedisServer(Service):
    name = "redis"

    def __init__(self, workdir: Path | None = None) -> None:
        self.binary = find_binary("redis-server")  # before making a directory that would then leak
        self._own_workdir = workdir is None
        super().__init__(Path(tempfile.mkdtemp(prefix="otel-llm-redis-")) if workdir is None else workdir)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        options = {
            "port": str(self.port),
            "bind": "127.0.0.1",
            "save": "",
            "appendonly": "no",
            "dir": str(self.workdir),
        }
        return [self.binary, *(arg for name, value in options.items() for arg in (f"--{name}", value))]

    def start(self, timeout: float = 10.0, attempts: int = 3) -> RedisServer:
        """Starts the server and waits until it answers PING.

        The free port can be taken by someone else before redis binds it, so a start that fails
        with "Address already in use" is retried on a new port.
        """
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(attempts):
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    self.command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=self.workdir,
                    start_new_session=True,
                )
            if self._wait_for_ping(timeout):
                return self
            super().stop()
            if "Address already in use" not in self.log_tail() or attempt == attempts - 1:
                break
            self.port = free_port()
        raise StackError(f"redis-server did not start; last log lines:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stops the server's process group and removes the temporary directory it made."""
        super().stop(sig, timeout)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def ping(self) -> bool:
        """True when the server answers PING (the inline protocol, so redis-py is not needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _wait_for_ping(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            if self.ping():
                return True
            time.sleep(0.02)
        return False
