"""How a failed command reaches the user: one line on stderr and exit code 1 or 2, never a traceback.

DogbreedError is the normal case (its message and exit code). An OSError that no stage turned
into one (a read-only folder, a full disk, a permission) is named by what failed and where. Any
other exception is a bug: the user gets one line and the path of a file holding the traceback,
so a report can carry it ($DOGBREED_DEBUG=1 raises it instead, for developers).
"""

from __future__ import annotations

import errno
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import click

from ops.errors import DogbreedError

BACKSTOP = "internal error"  # the first words of a bug's line (tests/test_cli_corpus.py)
OS_HINTS = {
    errno.ENOSPC: "free some space, or write somewhere else (--out, local.artifacts_dir)",
    errno.EDQUOT: "free some space, or write somewhere else (--out, local.artifacts_dir)",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.EACCES: "check the permissions, or write somewhere else",
    errno.EPERM: "check the permissions, or write somewhere else",
    errno.EFBIG: "the file grew past the size this process may write (ulimit -f)",
}


def os_error_message(exc: OSError) -> DogbreedError:
    """An OSError as one line: what failed, on which path, and what to do."""
    where = " ".join(
        repr(str(p)) for p in (exc.filename, exc.filename2) if p is not None and str(p)
    )
    what = exc.strerror or exc.__class__.__name__
    return DogbreedError(
        f"{what}{': ' + where if where else ''}", exit_code=1, hint=OS_HINTS.get(exc.errno)
    )


def _save_traceback() -> str:
    """The current exception's traceback in a temporary file; its path."""
    fd, path = tempfile.mkstemp(prefix=f"dogbreed-crash-{time.strftime('%Y%m%d-%H%M%S')}-")
    with os.fdopen(fd, "w") as fh:
        traceback.print_exc(file=fh)
    return path


def _fail(exc: DogbreedError) -> None:
    click.secho(f"Error: {exc}", fg="red", err=True)
    sys.exit(exc.exit_code)


def run_guarded(invoke: Callable[[], Any]) -> Any:
    """invoke(), with every exception but SystemExit and Ctrl-C ending as one line."""
    try:
        return invoke()
    except DogbreedError as exc:
        _fail(exc)
    except OSError as exc:
        if os.environ.get("DOGBREED_DEBUG"):
            raise
        _fail(os_error_message(exc))
    except (click.exceptions.Exit, click.ClickException, click.Abort):
        raise  # click prints these itself (usage errors: exit 2)
    except Exception as exc:
        if os.environ.get("DOGBREED_DEBUG"):
            raise
        try:
            saved = f"; the traceback is in {_save_traceback()}"
        except OSError:
            saved = ""
        text = " ".join(str(exc).split())[:300]
        _fail(
            DogbreedError(
                f"{BACKSTOP}: {type(exc).__name__}: {text}{saved}",
                hint="a bug in dogbreed: please report it",
            )
        )
