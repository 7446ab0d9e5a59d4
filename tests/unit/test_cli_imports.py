"""The CLI starts light: building its parsers (`--help`), and commands that need no client
library, import none of the heavy ones (the `kubernetes` client and kr8s alone take over a
second). Checked through `sys.modules` in a fresh interpreter, not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("kubernetes", "kubernetes_validate", "jsonschema", "kr8s", "httpx", "distributed",
         "dask", "helm_python", "ipywidgets", "aiohttp", "kopf")

# Runs the CLI's `main` with the given arguments, then reports the loaded top-level packages.
PROBE = """
import json, sys
from daskhub_lite.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr)
sys.exit(code or 0)
"""


def loaded(*args: str, home: Path) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                          text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home),
                               "DASKHUB_LITE_HOME": str(home / "data")})
    return set(json.loads(done.stderr.strip().splitlines()[-1])), done


def test_importing_the_cli_loads_no_heavy_module() -> None:
    done = subprocess.run([sys.executable, "-c", "import json, sys, daskhub_lite.cli; "
                           "print(json.dumps(sorted(sys.modules)))"],
                          capture_output=True, text=True, timeout=60, check=True)
    modules = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


@pytest.mark.parametrize("args", [
    ["--help"], ["job", "--help"], ["job", "submit", "--help"], ["cluster", "--help"],
    ["cluster", "list", "--help"], ["install", "--help"], ["up", "--help"],
])
def test_help_loads_no_heavy_module(args: list[str], tmp_path: Path) -> None:
    modules, done = loaded(*args, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: daskhub-lite" in done.stdout
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_status_of_a_stopped_plane_loads_no_heavy_module(tmp_path: Path) -> None:
    modules, done = loaded("status", "--data-dir", str(tmp_path / "none"), home=tmp_path)
    assert done.returncode == 1 and done.stdout.startswith("stopped"), done.stdout
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))
