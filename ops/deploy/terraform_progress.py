"""Terraform's `-json` event stream as progress lines while apply/destroy run (AWS takes minutes).

Terraform's machine-readable UI (developer.hashicorp.com/terraform/internals/machine-readable-ui)
writes one JSON object a line: `apply_start`, `apply_progress` (every 10 s while a resource is
being changed), `apply_complete`, `apply_errored`, `diagnostic`, `change_summary`, `outputs`.
Each becomes at most one line here, as it arrives:

    creating module.endpoint[0].aws_sagemaker_endpoint.this
    still creating module.endpoint[0].aws_sagemaker_endpoint.this (3m10s)
    created module.endpoint[0].aws_sagemaker_endpoint.this (4m02s)

Errors are collected (summary + detail) for the DogbreedError the wrapper raises. Ctrl-C passes
SIGINT on to Terraform, which finishes the calls in flight and saves the state; the message then
says what to run next.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ops.errors import DogbreedError

PAST = {"create": "created", "update": "updated", "delete": "destroyed", "replace": "replaced"}
PRESENT = {
    "create": "creating",
    "update": "updating",
    "delete": "destroying",
    "replace": "replacing",
}
PROGRESS_EVERY_S = (
    30  # "still creating" at most this often per resource (Terraform says it every 10 s)
)


def duration(seconds: float) -> str:
    """3m10s / 42s, as Terraform writes elapsed times."""
    seconds = int(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class EventLines:
    """Turns Terraform's JSON events into progress lines; keeps its errors and outputs."""

    errors: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    _said_progress: dict[str, float] = field(default_factory=dict)

    def line(self, event: dict[str, Any]) -> str | None:
        """The progress line for one event (None for events that say nothing new)."""
        kind, hook = event.get("type"), event.get("hook") or {}
        addr = (hook.get("resource") or {}).get("addr", "?")
        action = hook.get("action", "")
        elapsed = duration(hook.get("elapsed_seconds", 0))
        if kind == "apply_start":
            return f"  {PRESENT.get(action, action)} {addr}"
        if kind == "apply_progress":
            seconds = hook.get("elapsed_seconds", 0)
            if seconds - self._said_progress.get(addr, 0) < PROGRESS_EVERY_S:
                return None
            self._said_progress[addr] = seconds
            return f"  still {PRESENT.get(action, action)} {addr} ({elapsed})"
        if kind == "apply_complete":
            return f"  {PAST.get(action, action)} {addr} ({elapsed})"
        if kind == "apply_errored":
            return f"  failed {addr} ({elapsed})"
        if kind == "diagnostic":
            return self._diagnostic(event.get("diagnostic") or {})
        if kind == "change_summary":
            self.summary = event.get("@message", "")
            return f"  {self.summary}"
        if kind == "outputs":
            self.outputs = event.get("outputs") or {}
        return None

    def _diagnostic(self, diag: dict[str, Any]) -> str | None:
        text = ": ".join(p for p in (diag.get("summary"), diag.get("detail")) if p)
        if diag.get("severity") == "error":
            self.errors.append(text)
            return None  # said once, in the error
        return f"  warning: {diag.get('summary', '')}"


def _read_stderr(stream, into: list[str]) -> None:
    for raw in stream:
        into.append(raw.decode("utf-8", "replace"))


def stream(
    cmds: list[str], cwd: str, env: dict[str, str], echo: Callable[[str], Any], action: str
) -> EventLines:
    """Run a Terraform command with -json, echoing progress lines as events arrive; raises a
    DogbreedError with Terraform's errors when it fails, and a clean one on Ctrl-C."""
    events = EventLines()
    started = time.monotonic()
    proc = subprocess.Popen(cmds, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr: list[str] = []
    reader = threading.Thread(target=_read_stderr, args=(proc.stderr, stderr), daemon=True)
    reader.start()
    try:
        for raw in proc.stdout:  # type: ignore[union-attr]
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # not an event (Terraform prints none such with -json)
            said = events.line(event)
            if said:
                echo(said)
        proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # Terraform stops after the calls in flight, saves state
        proc.wait()
        raise DogbreedError(
            f"terraform {action} interrupted after {duration(time.monotonic() - started)}: "
            "the resources it finished are in the state",
            hint="run the same command again to finish, or `dogbreed destroy` to remove them",
        ) from None
    reader.join(timeout=5)
    if proc.returncode != 0:
        detail = "\n".join(events.errors) or "".join(stderr).strip()[-1500:]
        raise DogbreedError(f"terraform {action} failed in {cwd}:\n{detail}")
    return events
