"""`daskhub-lite down` waits while the control plane is alive: an exited process that its
parent has not reaped yet (a zombie) is not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from orchestrator.cli import _alive


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="zombies are read from /proc")
def test_a_zombie_is_not_alive_and_a_running_process_is() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert _alive(child.pid)
        child.terminate()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # exited, not reaped: signal 0 still succeeds
            with open(f"/proc/{child.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    break
            time.sleep(0.05)
        os.kill(child.pid, 0)
        assert not _alive(child.pid)
    finally:
        child.kill()
        child.wait()
    assert not _alive(child.pid)
