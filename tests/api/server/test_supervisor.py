"""`stop`, how scripts and tests end the commands they start: SIGTERM first, SIGKILL only for
a child that outlives its grace."""

from __future__ import annotations

import signal
import subprocess
import sys

from api.server.supervisor import stop

SLEEPER = "import time; print('up', flush=True); time.sleep(60)"
DEAF = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); " + SLEEPER


def started(code: str) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"up\n"
    return child


def test_a_child_that_heeds_sigterm_ends_by_it() -> None:
    """No SIGKILL for a child that exits on SIGTERM."""
    with started(SLEEPER) as child:
        stop(child, 10)
    assert child.returncode == -signal.SIGTERM


def test_a_child_that_ignores_sigterm_is_killed_after_its_grace() -> None:
    """SIGKILL once the grace has passed."""
    with started(DEAF) as child:
        stop(child, 0.5)
    assert child.returncode == -signal.SIGKILL


def test_a_child_that_already_exited_is_left_as_it_ended() -> None:
    """Its own exit status stays."""
    with subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"]) as child:
        child.wait(10)
        stop(child, 10)
    assert child.returncode == 3
