"""Start `dogbreed serve --api` as a child process, wait until it answers, and always stop it.

Used by `evaluate --local` and `demo`: the child records its URLs in the state file under
"serve" (with its pid), which is how we learn the free ports it picked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from ops.errors import DogbreedError
from ops.records import ServeRecord, read_serve
from ops.state import state_path


def child_global_args(app) -> list[str]:
    """The global options of this invocation, for child `dogbreed` processes."""
    args: list[str] = []
    if app.config:
        args += ["--config", str(app.config)]
    for key, value in app.overrides.items():
        if key == "project.backend":
            args += ["--backend", str(value)]
        else:
            args += ["--set", f"{key}={value}"]
    return args


def cli_command(*args: str, global_args: list[str] | None = None) -> list[str]:
    """The same CLI as a child process: python -m ops [global options] ARGS."""
    return [sys.executable, "-m", "ops", *(global_args or []), *args]


class ServeProcess:
    """The local model server + local POST /classify in a child process (context manager).

    Not ops.api.local_stack.LocalStack: that one runs both servers in this process and is what the
    child (`dogbreed serve --api`) itself starts; this one only owns the child's lifetime.
    """

    def __init__(
        self,
        artifact: Path | None = None,
        global_args: list[str] | None = None,
        timeout_s: float = 300.0,
        cwd: Path | None = None,
    ):
        self.artifact = artifact
        self.global_args = global_args or []
        self.timeout_s = timeout_s
        self.cwd = cwd
        self.proc: subprocess.Popen | None = None
        self.record = ServeRecord()

    @property
    def api_url(self) -> str:
        return self.record.api_url or ""

    @property
    def model(self) -> str:
        return self.record.artifact or self.api_url

    def start(self) -> ServeProcess:
        args = ["serve", "--api", "--port", "0", "--api-port", "0"]
        if self.artifact:
            args += ["--artifact", str(self.artifact)]
        # Its own session: a Ctrl-C in the terminal reaches the client (which saves what is in
        # flight) but not the server, which we stop ourselves once the client is done.
        self.proc = subprocess.Popen(
            cli_command(*args, global_args=self.global_args),
            cwd=self.cwd,
            start_new_session=True,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        path = (
            state_path(self.cwd) if self.cwd and not os.environ.get("DOGBREED_STATE_FILE") else None
        )
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise DogbreedError(
                    f"`dogbreed serve --api` exited with code {code} before it was ready"
                )
            record = read_serve(path)
            if (
                record
                and record.pid == self.proc.pid
                and record.status == "running"
                and record.api_url
                and record.runtime_url
                and _answers(record.runtime_url.rstrip("/") + "/ping")
            ):
                self.record = record
                return
            time.sleep(0.3)
        raise DogbreedError(
            f"`dogbreed serve --api` was not ready after {self.timeout_s:.0f} s",
            hint="run it alone to see why",
        )

    def stop(self) -> None:
        """SIGTERM (the server stops cleanly and records "stopped"), then SIGKILL after 20 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
