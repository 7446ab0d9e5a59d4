"""Training jobs end to end on the embedded control plane, through `daskhub_lite.jobs` and the
`daskhub-lite job` CLI: code shipped, logs, outputs, retries, deadlines, GPUs, a killed pod
resuming from its checkpoint, bad input and Ctrl-C. Two process nodes run the pods as local
processes: `cpu`, and `gpu` posing as a 2-GPU A100 machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from daskhub_lite import jobs
from daskhub_lite.jobs.kube import Cluster, connect
from orchestrator import ControlPlane
from tests.conftest import wait_for

NODES = {"nodes": [
    {"name": "cpu", "runtime": "process"},
    {"name": "gpu", "runtime": "process",
     "capacity": {"cpu": "16", "memory": "64Gi", "pods": "110", "nvidia.com/gpu": "2"},
     "labels": {"nvidia.com/gpu.product": "A100"},
     "taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
]}

TRAIN = """\
import os, sys
from helper import greet
print(greet(), "cwd", os.getcwd(), "args", sys.argv[1:])
print("index", os.environ.get("JOB_COMPLETION_INDEX"), "gpus",
      os.environ.get("CUDA_VISIBLE_DEVICES"))
out = os.environ["OUTPUT_DIR"]
os.makedirs(os.path.join(out, "models"), exist_ok=True)
name = "model-%s.txt" % os.environ.get("JOB_COMPLETION_INDEX", "0")
with open(os.path.join(out, "models", name), "w") as fh:
    fh.write("weights " + " ".join(sys.argv[1:]))
print("ignored data shipped:", os.path.exists("data/big.csv"))
"""


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    data = tmp_path_factory.mktemp("jobs-cp")
    (data / "nodes.yaml").write_text(yaml.safe_dump(NODES))
    with ControlPlane(data_dir=data / "state", nodes=str(data / "nodes.yaml")) as cp:
        yield cp


@pytest.fixture(scope="module")
def cluster(control_plane: ControlPlane) -> Cluster:
    return connect(control_plane.kubeconfig)


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    (folder / "data").mkdir(parents=True)
    (folder / "train.py").write_text(TRAIN)
    (folder / "helper.py").write_text("def greet():\n    return 'hello from the job'\n")
    (folder / "data" / "big.csv").write_text("x\n" * 1000)
    (folder / ".gitignore").write_text("data/\n")
    return folder


def script(folder: Path, name: str, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body))
    return folder


def cli(control_plane: ControlPlane, *args: str, timeout: float = 90) -> \
        subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daskhub_lite.cli", *args[:2], "--kubeconfig",
                           control_plane.kubeconfig, *args[2:]], capture_output=True,
                          text=True, timeout=timeout)


def test_train_job_ships_code_streams_logs_and_keeps_outputs(cluster: Cluster, code: Path,
                                                            tmp_path: Path) -> None:
    job = jobs.submit(["python", "train.py", "--lr", "0.1"], code=code, cluster=cluster,
                      name="train-basic")
    state = job.wait(timeout=60, progress=False)
    assert state.phase == "Succeeded" and state.succeeded == 1
    log = job.logs()
    assert "hello from the job" in log and "args ['--lr', '0.1']" in log
    assert "ignored data shipped: False" in log  # .gitignore'd files stay home
    files = job.outputs(tmp_path / "out")
    assert files == ["models/model-0.txt"]
    assert (tmp_path / "out" / "models" / "model-0.txt").read_text() == "weights --lr 0.1"
    assert "train-basic" in [s.name for s in jobs.list(cluster=cluster)]
    assert jobs.get("train-basic", cluster=cluster).status().phase == "Succeeded"
    job.delete()
    core = cluster.core
    wait_for(lambda: not core.list_namespaced_persistent_volume_claim(
        "default", label_selector="daskhub-lite.io/job=train-basic").items, timeout=20)
    assert not core.list_namespaced_config_map(
        "default", label_selector="daskhub-lite.io/job=train-basic").items
    with pytest.raises(jobs.JobNotFound):
        jobs.get("train-basic", cluster=cluster)


def test_missing_script_is_refused_before_anything_is_created(cluster: Cluster,
                                                              code: Path) -> None:
    with pytest.raises(jobs.JobSpecError, match="nope.py"):
        jobs.submit("python nope.py", code=code, cluster=cluster, name="nope")
    with pytest.raises(jobs.JobNotFound):
        jobs.get("nope", cluster=cluster)


def test_code_over_the_configmap_limit_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    folder = script(tmp_path / "big", "train.py", "print('hi')\n")
    (folder / "weights.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    with pytest.raises(jobs.CodeError, match="weights.bin.*image.*volume"):
        jobs.submit("python train.py", code=folder, cluster=cluster, name="too-big")
    assert not cluster.core.list_namespaced_config_map(
        "default", label_selector="daskhub-lite.io/job=too-big").items


def test_code_links_ship_as_links_and_a_link_out_of_the_folder_is_refused(
        cluster: Cluster, tmp_path: Path) -> None:
    folder = script(tmp_path / "linked", "train.py", """\
        import os
        print("config:", open("config.yaml").read(), "link:", os.readlink("config.yaml"))
        """)
    (folder / "configs").mkdir()
    (folder / "configs" / "dev.yaml").write_text("lr: 0.1")
    (folder / "config.yaml").symlink_to("configs/dev.yaml")
    job = jobs.submit("python train.py", code=folder, cluster=cluster, name="linked")
    assert job.wait(timeout=60, progress=False).phase == "Succeeded"
    assert "config: lr: 0.1 link: configs/dev.yaml" in job.logs()  # unpacked as a link
    job.delete()
    key = tmp_path / "id_rsa"
    key.write_text("PRIVATE KEY")
    (folder / "key.pem").symlink_to(key)
    with pytest.raises(jobs.CodeError, match="key.pem.*outside the code folder"):
        jobs.submit("python train.py", code=folder, cluster=cluster, name="leaky")
    assert not cluster.core.list_namespaced_config_map(
        "default", label_selector="daskhub-lite.io/job=leaky").items


def test_failing_command_is_retried_then_fails_with_its_log_tail(cluster: Cluster,
                                                                 tmp_path: Path) -> None:
    folder = script(tmp_path / "fail", "fail.py", """\
        import os, sys
        print("loading data from", os.getcwd())
        print("ValueError: learning rate must be positive", file=sys.stderr)
        sys.exit(3)
        """)
    job = jobs.submit("python fail.py", code=folder, cluster=cluster, retries=1,
                      name="fails")
    with pytest.raises(jobs.JobFailed) as err:
        job.wait(timeout=60, progress=False)
    assert err.value.reason == "BackoffLimitExceeded"
    assert "learning rate must be positive" in err.value.log_tail
    assert "exit code 3" in str(err.value)
    assert job.status().failed == 2  # the first attempt and one retry


def test_deadline_exceeded(cluster: Cluster, tmp_path: Path) -> None:
    folder = script(tmp_path / "slow", "slow.py", "import time\ntime.sleep(600)\n")
    job = jobs.submit("python slow.py", code=folder, cluster=cluster, deadline=2,
                      name="too-slow")
    start = time.monotonic()
    with pytest.raises(jobs.JobFailed) as err:
        job.wait(timeout=30, progress=False)
    assert err.value.reason == "DeadlineExceeded"
    assert time.monotonic() - start < 15
    assert job.status().active == 0


def test_gpu_model_nobody_has_is_reported_within_seconds(cluster: Cluster, code: Path) -> None:
    job = jobs.submit("python train.py", code=code, cluster=cluster, gpus=1, gpu_model="H100",
                      name="wants-h100")
    start = time.monotonic()
    with pytest.raises(jobs.JobUnschedulable) as err:
        job.wait(timeout=30, progress=False, pending_timeout=2)
    assert time.monotonic() - start < 10
    assert "H100" in str(err.value) and "job delete wants-h100" in str(err.value)
    assert job.status().phase == "Pending"
    job.delete()


def test_indexed_gpu_sweep_gets_one_device_per_index(cluster: Cluster, code: Path,
                                                     tmp_path: Path) -> None:
    job = jobs.submit("python train.py", code=code, cluster=cluster, gpus=1, gpu_model="A100",
                      completions=2, name="sweep")
    state = job.wait(timeout=60, progress=False)
    assert state.succeeded == 2
    pods = job.pods()
    assert {p["spec"]["nodeName"] for p in pods} == {"gpu"}
    log = job.logs()
    devices = sorted(line.split("gpus ")[1] for line in log.splitlines() if "gpus " in line)
    assert devices == ["0", "1"], log
    assert "[0] " in log and "[1] " in log
    assert sorted(job.outputs(tmp_path / "sweep")) == ["models/model-0.txt",
                                                       "models/model-1.txt"]
    job.delete()


def test_killed_pod_is_retried_and_resumes_from_its_checkpoint(cluster: Cluster,
                                                               tmp_path: Path) -> None:
    folder = script(tmp_path / "ckpt", "train.py", """\
        import json, os, time
        path = os.path.join(os.environ["OUTPUT_DIR"], "checkpoint.json")
        step = json.load(open(path))["step"] if os.path.exists(path) else 0
        print("starting at step", step, flush=True)
        while step < 12:
            step += 1
            time.sleep(0.2)
            with open(path + ".tmp", "w") as fh:
                json.dump({"step": step}, fh)
            os.replace(path + ".tmp", path)
            print("saved step", step, flush=True)
        print("done at step", step)
        """)
    job = jobs.submit("python train.py", code=folder, cluster=cluster, name="resumes")

    def running_pod_past_step_3() -> str | None:
        pods = [p for p in job.pods() if p["status"].get("phase") == "Running"]
        return str(pods[0]["metadata"]["name"]) if pods and "saved step 3" in (
            job.logs() or "") else None

    first = wait_for(running_pod_past_step_3, timeout=30, interval=0.1)
    cluster.core.delete_namespaced_pod(first, "default", _preload_content=False)
    state = job.wait(timeout=60, progress=False)
    assert state.phase == "Succeeded" and state.failed == 1
    log = job.logs() or ""
    resumed = int(log.split("starting at step")[1].split()[0])
    assert resumed >= 3 and "done at step 12" in log
    job.delete()


def test_cli_submit_wait_list_status_outputs_delete(control_plane: ControlPlane, code: Path,
                                                    tmp_path: Path) -> None:
    run = cli(control_plane, "job", "submit", "--name", "cli-train", "--code", str(code),
              "-e", "GREETING=hi", "--follow", "--", "python", "train.py", "--epochs", "2")
    assert run.returncode == 0, run.stderr
    assert "job.batch/cli-train submitted" in run.stdout
    assert "hello from the job" in run.stdout  # --follow streamed the log
    assert "Succeeded" in run.stderr  # progress
    listing = cli(control_plane, "job", "list")
    assert listing.returncode == 0 and "cli-train" in listing.stdout
    assert "Succeeded" in listing.stdout.split("cli-train")[1].splitlines()[0]
    status = cli(control_plane, "job", "status", "cli-train")
    assert "Completions:  1/1" in status.stdout
    logs = cli(control_plane, "job", "logs", "cli-train")
    assert "args ['--epochs', '2']" in logs.stdout
    outputs = cli(control_plane, "job", "outputs", "cli-train", str(tmp_path / "o"))
    assert outputs.returncode == 0 and "models/model-0.txt" in outputs.stdout
    assert cli(control_plane, "job", "wait", "cli-train").returncode == 0
    assert cli(control_plane, "job", "delete", "cli-train").returncode == 0
    missing = cli(control_plane, "job", "wait", "cli-train")
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
    assert "Traceback" not in missing.stderr


def test_cli_wait_mirrors_failure_and_bad_input_is_one_line(control_plane: ControlPlane,
                                                            tmp_path: Path) -> None:
    folder = script(tmp_path / "f", "fail.py", "import sys\nsys.exit('bad hyper-parameters')\n")
    run = cli(control_plane, "job", "submit", "--name", "cli-fail", "--retries", "0", "--code",
              str(folder), "--wait", "--", "python", "fail.py")
    assert run.returncode == 1
    assert "BackoffLimitExceeded" in run.stderr and "bad hyper-parameters" in run.stderr
    bad = cli(control_plane, "job", "submit", "--gpu-share", "2", "--code", str(folder), "--",
              "python", "fail.py")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "gpu_share" in bad.stderr


def test_ctrl_c_in_wait_leaves_the_job_running(control_plane: ControlPlane, cluster: Cluster,
                                               tmp_path: Path) -> None:
    folder = script(tmp_path / "long", "long.py", "import time\ntime.sleep(600)\n")
    job = jobs.submit("python long.py", code=folder, cluster=cluster, name="long")
    # As in a terminal: a suite started in the background by a shell inherits SIGINT ignored,
    # and Python then never turns Ctrl-C into KeyboardInterrupt.
    waiter = subprocess.Popen([sys.executable, "-m", "daskhub_lite.cli", "job", "wait",
                               "--kubeconfig", control_plane.kubeconfig, "long"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(lambda: job.status().phase == "Running", timeout=30)
    assert waiter.stderr is not None
    first = ""
    while "long: Running" not in first:  # the waiter is polling once it prints progress
        first = waiter.stderr.readline()
        assert first, "the waiter exited before printing progress"
    waiter.send_signal(signal.SIGINT)
    _, err = waiter.communicate(timeout=20)
    assert waiter.returncode == 130
    assert "keeps running" in err and "daskhub-lite job wait long" in err
    assert "Traceback" not in err
    assert job.status().phase == "Running"
    job.delete()


def test_dask_workers_need_the_operator(cluster: Cluster, code: Path) -> None:
    if jobs.dask_jobs_available(cluster=cluster):
        pytest.fail("this module's cluster must start without the dask operator")
    with pytest.raises(jobs.JobError, match="install dask-operator"):
        jobs.submit("python train.py", code=code, cluster=cluster, dask_workers=1,
                    name="no-operator")
    assert not cluster.core.list_namespaced_config_map(
        "default", label_selector="daskhub-lite.io/job=no-operator").items


def test_dask_job_runs_beside_its_dask_cluster(control_plane: ControlPlane, cluster: Cluster,
                                               tmp_path: Path) -> None:
    from daskhub_lite.clusters.target import ensure_operator

    ensure_operator(control_plane.kubeconfig, timeout=120)
    folder = script(tmp_path / "dask", "sweep.py", """\
        import json, os
        from dask.distributed import Client
        with Client(os.environ["DASK_SCHEDULER_ADDRESS"]) as client:
            client.wait_for_workers(2, timeout=60)
            squares = client.gather(client.map(lambda x: x * x, range(10)))
        print("sum of squares", sum(squares))
        with open(os.path.join(os.environ["OUTPUT_DIR"], "sum.json"), "w") as fh:
            json.dump(sum(squares), fh)
        """)
    job = jobs.submit("python sweep.py", code=folder, cluster=cluster, dask_workers=2,
                      name="dask-sweep")
    assert job.kind == "DaskJob"
    state = job.wait(timeout=120, progress=False, pending_timeout=60)
    assert state.phase == "Succeeded"
    assert "sum of squares 285" in (job.logs() or "")
    assert jobs.get("dask-sweep", cluster=cluster).kind == "DaskJob"
    assert job.outputs(tmp_path / "o") == ["sum.json"]
    assert "dask-sweep" in [s.name for s in jobs.list(cluster=cluster)]
    job.delete()