"""Progress in a log: a line about every 10 % instead of one carriage-return update per step."""

from __future__ import annotations

import io
import subprocess
import sys

from ops.progress import progress_bar


def test_a_log_gets_about_ten_whole_lines_for_a_thousand_steps():
    log = io.StringIO()  # not a terminal
    for _ in progress_bar(range(1000), desc="decode", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 10 <= len(lines) <= 13, lines
    assert lines[-1].startswith("decode: 100%") and "1000/1000" in lines[-1]


def test_a_bar_with_a_total_updated_by_hand_is_quiet_too():
    log = io.StringIO()
    bar = progress_bar(total=500, desc="upload", file=log)
    for _ in range(500):
        bar.update(1)
    bar.close()
    assert len(log.getvalue().splitlines()) <= 13


def test_a_terminal_keeps_the_live_bar():
    # a pseudo-terminal: tqdm redraws in place with carriage returns
    code = (
        "import os, pty, sys\n"
        "from ops.progress import progress_bar\n"
        "master, slave = pty.openpty()\n"
        "out = os.fdopen(slave, 'w')\n"
        "for _ in progress_bar(range(50), desc='t', file=out, mininterval=0, miniters=1): pass\n"
        "out.flush()\n"
        "print(os.read(master, 100000).count(b'\\r'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 20
