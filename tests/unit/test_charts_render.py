"""Every bundled chart lints, and its renders (default and GPU values) validate strictly
against the Kubernetes 1.30 and 1.37 schemas."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import helm_python as helm
import pytest
import yaml

CHARTS = Path(__file__).resolve().parents[2] / "charts"
NAMES = ["dask-operator", "dask", "daskhub", "gpu-scheduler"]
K8S_VERSIONS = ["1.30.0", "1.37.0"]


def _load(name: str, tmp_path: Path) -> Path:
    # daskhub links its dask-operator subchart; copy with links followed (as the CLI does).
    return Path(shutil.copytree(CHARTS / name, tmp_path / name, symlinks=False))


def _render(chart_dir: Path, values: dict | None) -> list[dict]:
    with helm.Chart.load(chart_dir) as chart:
        rendered = chart.render(values, name="r1", namespace="ns1", is_install=True)
    return [doc for path, text in sorted(rendered.items()) if not path.endswith("NOTES.txt")
            for doc in yaml.safe_load_all(text) if doc]


def _validate(docs: list[dict], path: Path) -> None:
    path.write_text(yaml.safe_dump_all(docs))
    for version in K8S_VERSIONS:
        proc = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict",
                               "--quiet", "-k", version, str(path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"{version}: {proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("name", NAMES)
def test_lint_strict(name: str, tmp_path: Path) -> None:
    report = helm.lint(_load(name, tmp_path), strict=True)
    assert report["errors"] == [], report
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("variant", ["default", "gpu"])
def test_render_validates(name: str, variant: str, tmp_path: Path) -> None:
    chart = _load(name, tmp_path)
    values = yaml.safe_load((chart / "ci" / "gpu-values.yaml").read_text()) \
        if variant == "gpu" else None
    docs = _render(chart, values)
    assert docs
    _validate(docs, tmp_path / "rendered.yaml")


def test_crds_validate(tmp_path: Path) -> None:
    docs = [yaml.safe_load(p.read_text()) for p in sorted((CHARTS / "dask-operator" / "crds")
                                                          .glob("*.yaml"))]
    assert {d["spec"]["names"]["kind"] for d in docs} == {
        "DaskCluster", "DaskWorkerGroup", "DaskJob", "DaskAutoscaler"}
    _validate(docs, tmp_path / "crds.yaml")


def test_crds_match_installed_dask_kubernetes() -> None:
    pytest.importorskip("dask_kubernetes", reason="generator input: pip install dask-kubernetes")
    tool = Path(__file__).resolve().parents[2] / "tools" / "gen_dask_crds.py"
    proc = subprocess.run([sys.executable, str(tool), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _containers(docs: list[dict], kind: str = "Deployment") -> dict[str, dict]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
            for d in docs if d["kind"] == kind}


def test_dask_gpu_only_on_gpu_workers(tmp_path: Path) -> None:
    chart = _load("dask", tmp_path)
    docs = _render(chart, yaml.safe_load((chart / "ci" / "gpu-values.yaml").read_text()))
    containers = _containers(docs)
    sched, cpu, gpu = (containers["r1-dask-scheduler"], containers["r1-dask-worker"],
                       containers["r1-dask-worker-gpu"])
    assert sched["command"] == ["dask", "scheduler"]
    assert cpu["command"] == gpu["command"] == ["dask", "worker"]
    assert "nvidia.com/gpu" not in str(sched) and "nvidia.com/gpu" not in str(cpu)
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert gpu["args"][gpu["args"].index("--resources") + 1] == "GPU=1"
    assert "--resources" not in cpu["args"]


def test_commands_need_no_shell() -> None:
    """Commands run in the host Python env on the embedded control plane: no sh -c."""
    for name in NAMES:
        for tpl in (CHARTS / name / "templates").rglob("*.yaml"):
            assert "sh -c" not in tpl.read_text() and "/bin/sh" not in tpl.read_text(), tpl


def test_daskhub_users_may_create_daskclusters(tmp_path: Path) -> None:
    # Per-user namespaces (the default) bind the built-in `edit` role, which covers Dask's
    # kinds; with one shared namespace the chart's own Role must.
    shared = {"singleuser": {"userNamespaces": {"enabled": False}}}
    docs = _render(_load("daskhub", tmp_path), shared)
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    rules = roles["r1-daskhub-dask-user"]["rules"]
    assert any("daskclusters" in r["resources"] and "create" in r["verbs"] for r in rules)
    kinds = {d["kind"] for d in docs}
    assert {"Ingress", "ClusterRole", "Deployment", "Secret"} <= kinds  # operator included


def test_gpu_scheduler_kubeconfig_uses_service_account(tmp_path: Path) -> None:
    docs = _render(_load("gpu-scheduler", tmp_path), None)
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    kubeconfig = yaml.safe_load(cm["data"]["kubeconfig"])
    assert kubeconfig["users"][0]["user"]["tokenFile"].endswith("serviceaccount/token")
    container = _containers(docs)["r1-gpu-scheduler"]
    assert container["command"] == ["daskhub-lite", "scheduler"]
    assert container["args"][:2] == ["--kubeconfig", "/etc/gpu-scheduler/kubeconfig"]


def test_daskhub_hub_may_make_user_quotas_only_when_asked(tmp_path: Path) -> None:
    chart = _load("daskhub", tmp_path)

    def hub_rules(values: dict | None) -> list[dict]:
        role = next(d for d in _render(chart, values) if d["kind"] == "ClusterRole"
                    and d["metadata"]["name"] == "ns1-r1-daskhub-hub")
        return list(role["rules"])

    def resources(rules: list[dict]) -> set[str]:
        return {r for rule in rules for r in rule["resources"]}

    assert not {"resourcequotas", "limitranges"} & resources(hub_rules(None))
    gpu = yaml.safe_load((chart / "ci" / "gpu-values.yaml").read_text())
    rules = hub_rules(gpu)
    assert {"resourcequotas", "limitranges"} <= resources(rules)
    quota_rule = next(r for r in rules if r["resources"] == ["resourcequotas"])
    assert quota_rule["verbs"] == ["get", "create", "update"]  # never delete, never status


@pytest.mark.parametrize(("values", "problem"), [
    ({"quota": "1 gpu"}, "at '/singleuser/userNamespaces/quota': got string, want object"),
    ({"limitRange": [{"default": {"cpu": "1"}}]},
     "at '/singleuser/userNamespaces/limitRange/0': missing property 'type'"),
])
def test_daskhub_bad_user_quota_values_are_refused(values: dict, problem: str,
                                                   tmp_path: Path) -> None:
    with pytest.raises(Exception, match="values don't meet the specifications") as refused:
        _render(_load("daskhub", tmp_path), {"singleuser": {"userNamespaces": values}})
    assert problem in str(refused.value)
