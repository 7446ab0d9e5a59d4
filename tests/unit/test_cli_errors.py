"""The user layer's one error boundary: each error type renders as `error: <message>` with
its exit code, and the real CLI prints exactly that line on stderr for input it refuses."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from daskhub_lite import errors
from daskhub_lite.cli import main
from daskhub_lite.hub import HubError


@pytest.mark.parametrize("kind", [errors.UserError, errors.BadInput, errors.NotFound,
                                  errors.Refused, errors.NotInstalled,
                                  errors.ConnectionFailed, HubError])
def test_each_error_type_renders_one_line_and_exit_1(kind: type[errors.UserError]) -> None:
    assert errors.render(kind("cluster 'x' not found")) == ("error: cluster 'x' not found", 1)


def test_an_error_may_carry_its_own_exit_code() -> None:
    class Interrupted(errors.UserError):
        exit_code = 130

    stream = io.StringIO()
    assert errors.report(Interrupted("stopped"), stream) == 130
    assert stream.getvalue() == "error: stopped\n"


def test_main_renders_a_user_error_once(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["up", "--hub", "--foreground"]) == 1
    captured = capsys.readouterr()
    assert captured.err == ("error: --hub starts the control plane in the background; "
                            "drop --foreground\n")
    assert captured.out == ""


def test_debug_shows_the_traceback() -> None:
    with pytest.raises(HubError):
        main(["--debug", "up", "--hub", "--foreground"])


def _cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daskhub_lite.cli", *args],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(home),
                               "DASKHUB_LITE_HOME": str(home / "data"),
                               "KUBECONFIG": str(home / "missing-kubeconfig")})


def test_the_real_cli_refuses_bad_input(tmp_path: Path) -> None:
    done = _cli("up", "--hub", "--foreground", home=tmp_path)
    assert done.returncode == 1
    assert done.stderr == ("error: --hub starts the control plane in the background; "
                           "drop --foreground\n")


def test_the_real_cli_without_a_cluster(tmp_path: Path) -> None:
    done = _cli("cluster", "delete", "Bad_Name", home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "error: no Kubernetes cluster answers and none may be started here")


def test_the_install_function_raises_the_line_the_command_shows(tmp_path: Path) -> None:
    from daskhub_lite.charts import cli as charts_cli
    from daskhub_lite.charts.errors import ChartError

    chart = str(tmp_path / "no-such-chart")
    with pytest.raises(ChartError) as raised:
        charts_cli.install(["demo", chart, "--kubeconfig", str(tmp_path / "kubeconfig")])
    done = _cli("install", "demo", chart, "--kubeconfig", str(tmp_path / "kubeconfig"),
                home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == f"error: {raised.value}"


def test_a_connection_failure_is_still_a_connection_error() -> None:
    assert isinstance(errors.ConnectionFailed("no cluster"), ConnectionError)
    assert errors.render(errors.ConnectionFailed("no cluster")) == ("error: no cluster", 1)
