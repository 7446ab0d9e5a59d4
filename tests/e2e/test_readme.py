"""The README's "Using it" shell block, run as written by a newcomer: a fresh home folder, no
kubeconfig, no data dir, only the installed commands on PATH. Afterwards no process of that data
dir is left and nothing of ours is in the temporary folder."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def using_it_block() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Using it\n", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "README's 'Using it' section has no ```sh block"
    return match.group(1)


def processes_naming(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def test_the_readme_block_runs_as_written(tmp_path: Path) -> None:
    home, work, tmpdir = tmp_path / "home", tmp_path / "work", tmp_path / "tmp"
    for folder in (home, work, tmpdir):
        folder.mkdir()
    env = {key: value for key, value in os.environ.items()
           if key not in ("KUBECONFIG", "DASKHUB_LITE_HOME", "XDG_DATA_HOME")
           and not key.startswith(("DASK_", "PYTEST"))}
    env.update(HOME=str(home), TMPDIR=str(tmpdir),
               PATH=str(Path(sys.executable).parent) + os.pathsep + env["PATH"])
    script = "set -euo pipefail\n" + using_it_block()
    try:
        done = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
    finally:
        # Whatever happened, stop what the block started (its `down` may not have run).
        subprocess.run([sys.executable, "-m", "daskhub_lite.cli", "down"], env=env,
                       capture_output=True, timeout=120)
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    lines = done.stdout.splitlines()
    assert "dask operator ready" in done.stdout
    assert "3" in lines, "the computation on the demo cluster printed no result"
    assert "trained" in lines, "the job's output was not followed"
    assert lines[-1] == "control plane stopped"
    assert "not supported" not in done.stderr  # kr8s' version warning stays hidden
    assert not processes_naming(str(home)), "processes of the README's data dir are left"
    assert sorted(p.name for p in tmpdir.iterdir()) == [], "temporary files were left"
