"""Training jobs: run a script as a Kubernetes Job, watch it, retry it, collect its outputs.

    job = daskhub_lite.jobs.submit("python train.py --epochs 5", code=".", gpus=1)
    job.wait()                 # raises JobFailed with the reason and the log's tail
    job.outputs("results/")    # the files the job wrote to $OUTPUT_DIR

The `code` folder (or one script) travels in a ConfigMap and becomes the working directory;
`$OUTPUT_DIR` is a PersistentVolumeClaim kept until the job is deleted, so checkpoints survive
retries. Everything goes through the Kubernetes REST API (`daskhub_lite.kubehttp`, the
`kubernetes` client where a kubeconfig needs it), so the same calls work on the embedded
control plane and on a real cluster.
"""

from __future__ import annotations

import codecs
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TextIO

from daskhub_lite.jobs import code as jobs_code
from daskhub_lite.jobs import daskjob as jobs_dask
from daskhub_lite.jobs import outputs as jobs_outputs
from daskhub_lite.jobs.kube import Cluster, connect
from daskhub_lite.jobs.spec import (DEFAULT_IMAGE, JOB_LABEL, MANAGED_BY, JobRequest,
                                    JobSpecError, code_configmap, default_name, job_manifest,
                                    outputs_claim, owner_reference, validate)
from daskhub_lite.jobs.state import (JobState, exit_summary, failed_pods, newest, pod_phase,
                                     summarize)
from daskhub_lite.jobs.code import CodeError
from daskhub_lite.kubehttp import APIStatusError, resource_path

__all__ = ["CodeError", "JobError", "JobFailed", "JobNotFound", "JobRefused", "JobSpecError",
           "JobUnschedulable", "TrainingJob", "dask_jobs_available", "get", "list", "submit"]

_list = list
LOG_TAIL_LINES = 20


class JobError(RuntimeError):
    """A job operation that failed; the message says what happened and what to do."""


class JobNotFound(JobError):
    pass


class JobFailed(JobError):
    def __init__(self, name: str, reason: str, message: str, log_tail: str) -> None:
        self.name, self.reason, self.detail, self.log_tail = name, reason, message, log_tail
        text = f"job {name} failed: {reason}"
        if message:
            text += f": {message}"
        if log_tail:
            text += f"\n--- last lines of the failing pod's log ---\n{log_tail.rstrip()}"
        super().__init__(text)


class JobUnschedulable(JobError):
    def __init__(self, name: str, message: str) -> None:
        self.name, self.detail = name, message
        super().__init__(
            f"job {name} cannot be scheduled: {message}. It stays Pending: change the request "
            f"(e.g. gpu_model / gpus) and resubmit, or delete it with "
            f"`daskhub-lite job delete {name}`")


class JobRefused(JobError):
    """The API refuses to create the job's pods (the namespace's ResourceQuota is used up,
    a LimitRange or Pod Security forbids them); `detail` is the API's own message."""

    def __init__(self, name: str, message: str) -> None:
        self.name, self.detail = name, message
        super().__init__(
            f"job {name} cannot start: {message}. It stays Pending and starts once the "
            f"namespace has room (for a quota: when other pods finish), or delete it with "
            f"`daskhub-lite job delete {name}`")


def _api_error(exc: APIStatusError, what: str) -> JobError:
    if exc.status == 404:
        return JobNotFound(f"{what}: not found")
    return JobError(f"{what}: {exc.message}")


def _path(plural: str, namespace: str, name: str | None = None,
          subresource: str | None = None) -> str:
    """The REST path of the kinds a job is made of."""
    api_version = "batch/v1" if plural == "jobs" else "v1"
    return resource_path(api_version, plural, namespace, name, subresource)


class TrainingJob:
    """A handle on one submitted job (it need not have been submitted by this process)."""

    def __init__(self, name: str, cluster: Cluster, namespace: str | None = None,
                 kind: str = "Job") -> None:
        self.name = name
        self.cluster = cluster
        self.namespace = namespace or cluster.namespace
        self.kind = kind  # "Job", or "DaskJob" (dask_workers > 0)

    def __repr__(self) -> str:
        return f"<TrainingJob {self.namespace}/{self.name}>"

    # -- reading ----------------------------------------------------------------------------

    def _job(self) -> dict[str, Any]:
        try:
            if self.kind == "DaskJob":
                return jobs_dask.read(self.cluster, self.name, self.namespace)
            return dict(self.cluster.http.get(_path("jobs", self.namespace, self.name)))
        except APIStatusError as exc:
            raise _api_error(exc, f"job {self.namespace}/{self.name}") from exc

    def pods(self, include_helpers: bool = False) -> list[dict[str, Any]]:
        selector = f"{JOB_LABEL}={self.name}"
        if not include_helpers:
            selector += f",!{jobs_outputs.HELPER_ROLE}"
        if self.kind == "DaskJob":
            selector += f",{jobs_dask.NOT_CLUSTER_PODS}"
        items = self.cluster.http.get(_path("pods", self.namespace),
                                      labelSelector=selector)["items"]
        return _list(items)

    def events(self) -> list[dict[str, Any]]:
        """The Job's own Events (the job controller's SuccessfulCreate / FailedCreate)."""
        if self.kind == "DaskJob":
            return []  # its pods are the operator's to make, and to report on
        selector = f"involvedObject.kind=Job,involvedObject.name={self.name}"
        try:
            items = self.cluster.http.get(_path("events", self.namespace),
                                          fieldSelector=selector)["items"]
        except APIStatusError:
            return []  # events are best effort: no right to read them is no refusal
        return _list(items)

    def status(self) -> JobState:
        return summarize(self._job(), self.pods(), self.events())

    def _pod_log(self, pod: str, tail: int | None = None) -> str:
        try:
            data = self.cluster.http.request("GET", _path("pods", self.namespace, pod, "log"),
                                             query={"container": "main", "tailLines": tail})
            return data.decode(errors="replace")
        except APIStatusError:
            return ""

    def logs(self, follow: bool = False, file: TextIO | None = None) -> str | None:
        """The newest pod's log (all pods', prefixed by index, for an Indexed job). With
        `follow`, stream each attempt in turn to `file` (stdout) until the job ends."""
        if follow:
            for chunk in self._follow():
                (file or sys.stdout).write(chunk)
                (file or sys.stdout).flush()
            return None
        pods = self.pods()
        by_index: dict[str, list[dict[str, Any]]] = {}
        for pod in pods:
            index = (pod["metadata"].get("annotations") or {}).get(
                "batch.kubernetes.io/job-completion-index", "")
            by_index.setdefault(index, []).append(pod)
        if len(by_index) <= 1:
            pod = newest(pods)
            return self._pod_log(pod["metadata"]["name"]) if pod else ""
        out = []
        for index in sorted(by_index, key=lambda i: int(i) if i.isdigit() else -1):
            pod = newest(by_index[index])
            assert pod is not None
            out += [f"[{index}] {line}" for line in
                    self._pod_log(pod["metadata"]["name"]).splitlines()]
        return "\n".join(out) + ("\n" if out else "")

    def _follow(self) -> Iterator[str]:
        followed: set[str] = set()
        while True:
            pods = [p for p in self.pods() if p["metadata"]["name"] not in followed]
            startable = [p for p in pods if pod_phase(p) != "Pending"]
            pod = newest(startable) if startable else None
            if pod is None:
                if self.status().done and not pods:
                    return
                time.sleep(0.1)
                continue
            name = pod["metadata"]["name"]
            chunks = self.cluster.http.stream(_path("pods", self.namespace, name, "log"),
                                              query={"container": "main", "follow": True})
            try:
                first = next(chunks, b"")  # the request is made here: it may be refused
            except APIStatusError:
                # Its container has not started yet (the pod can be Running while `main`
                # waits): ask again, unless the pod ended without ever running it.
                if pod_phase(pod) in ("Succeeded", "Failed"):
                    followed.add(name)
                time.sleep(0.1)
                continue
            followed.add(name)
            if len(followed) > 1:
                yield f"--- {name} ---\n"
            text = codecs.getincrementaldecoder("utf-8")(errors="replace")
            yield text.decode(first)
            for chunk in chunks:
                yield text.decode(chunk)
            yield text.decode(b"", final=True)

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, timeout: float | None = None, progress: bool | TextIO = True,
             pending_timeout: float | None = 10.0) -> JobState:
        """Block until the job ends. Returns its state on success; raises `JobFailed` (reason
        and the failing pod's log tail), `JobUnschedulable` (a pod the scheduler cannot place
        for `pending_timeout` seconds), `JobRefused` (the API refuses its pods that long: a
        ResourceQuota used up, say) or `TimeoutError`. Ctrl-C leaves the job running."""
        out = sys.stderr if progress is True else (progress or None)
        start = time.monotonic()
        unschedulable_since: float | None = None
        last = ""
        interval = 0.05
        try:
            while True:
                state = self.status()
                elapsed = time.monotonic() - start
                line = state.line()
                if out is not None and line != last:
                    print(f"[{elapsed:5.1f}s] {line}", file=out, flush=True)
                last = line
                if state.phase == "Succeeded":
                    return state
                if state.phase == "Failed":
                    raise self._failure(state)
                if state.unschedulable or state.refused or (
                        state.reason and state.phase == "Pending"):
                    unschedulable_since = unschedulable_since or time.monotonic()
                    if pending_timeout is not None and \
                            time.monotonic() - unschedulable_since >= pending_timeout:
                        if state.unschedulable:
                            raise JobUnschedulable(self.name, state.unschedulable)
                        if state.refused:
                            raise JobRefused(self.name, state.refused)
                        raise JobFailed(self.name, state.reason, state.message, "")
                else:
                    unschedulable_since = None
                if timeout is not None and elapsed > timeout:
                    raise TimeoutError(f"job {self.name} still {state.phase} after "
                                       f"{timeout:g}s; it keeps running")
                time.sleep(interval)
                interval = min(0.5, interval * 1.1) if elapsed > 20 else 0.05
        except KeyboardInterrupt:
            print(f"\nstopped waiting; job {self.name} keeps running. Reattach with "
                  f"`daskhub-lite job wait {self.name}` or "
                  f"`daskhub_lite.jobs.get({self.name!r}).wait()`", file=sys.stderr, flush=True)
            raise

    def _failure(self, state: JobState) -> JobFailed:
        pods = self.pods()
        failed = failed_pods(pods)
        pod = failed[-1] if failed else newest(pods)
        tail, detail = "", state.message
        if pod is not None:
            tail = self._pod_log(pod["metadata"]["name"], tail=LOG_TAIL_LINES)
            summary = exit_summary(pod)
            if summary and summary not in detail:
                detail = f"{detail}; last pod {pod['metadata']['name']}: {summary}".lstrip("; ")
        return JobFailed(self.name, state.reason, detail, tail)

    # -- outputs and clean-up -------------------------------------------------------------------

    def outputs(self, dest: str | Path, timeout: float = 120.0) -> list[str]:
        """Copy the job's `$OUTPUT_DIR` into `dest`; returns the relative file names."""
        job = self._job()
        volumes = job["spec"]["template"]["spec"].get("volumes") or []
        if not any("persistentVolumeClaim" in v for v in volumes):
            raise JobError(f"job {self.name} was submitted with outputs=False: it has no "
                           "outputs folder")
        image = job["spec"]["template"]["spec"]["containers"][0].get("image") or DEFAULT_IMAGE
        node = jobs_outputs.last_node(self.pods())
        try:
            return jobs_outputs.fetch(self.cluster, self.name, self.namespace, Path(dest),
                                      image, node, timeout)
        except APIStatusError as exc:
            raise _api_error(exc, f"copying the outputs of job {self.name}") from exc

    def delete(self) -> None:
        """Delete the job, its pods, its code and its outputs."""
        http, ns = self.cluster.http, self.namespace
        try:
            if self.kind == "DaskJob":
                jobs_dask.delete(self.cluster, self.name, ns)
            else:
                http.delete(_path("jobs", ns, self.name), propagationPolicy="Background")
        except APIStatusError as exc:
            if exc.status != 404:
                raise _api_error(exc, f"deleting job {self.name}") from exc
        for plural, name in (("configmaps", f"{self.name}-code"),
                             ("persistentvolumeclaims", f"{self.name}-outputs")):
            try:
                http.delete(_path(plural, ns, name))
            except APIStatusError as exc:
                if exc.status != 404:
                    raise _api_error(exc, f"deleting {name}") from exc
        http.delete(_path("pods", ns), labelSelector=f"{JOB_LABEL}={self.name}")


def _script_check(command: Sequence[str], packed: Sequence[str] | None, code: Any) -> None:
    """A `python script.py` whose script is not in the shipped code fails here, not in a pod."""
    if not command or Path(command[0]).name not in ("python", "python3") and not \
            Path(command[0]).name.startswith("python3"):
        return
    script = next((a for a in command[1:] if not a.startswith("-")), None)
    if script is None or command[1] in ("-m", "-c") or not script.endswith(".py"):
        return
    if packed is None:
        return  # code=None: the script must already be in the image; we cannot check
    if script.startswith("./"):
        script = script[2:]
    if script not in packed:
        raise JobSpecError(f"script {script!r} is not in the code shipped from "
                           f"{str(code)!r} (is it there, or left out by .gitignore?)")


def submit(command: str | Sequence[str], *, name: str | None = None, image: str | None = None,
           code: str | Path | None = ".", gpus: int = 0, gpu_share: float | None = None,
           gpu_model: str | None = None, cpus: float | str | None = None,
           memory: str | None = None, env: Mapping[str, str] | None = None, retries: int = 3,
           deadline: float | None = None, ttl: int | None = None,
           completions: int | None = None, parallelism: int | None = None,
           priority: str | None = None, dask_workers: int = 0, outputs: bool | str = True,
           namespace: str | None = None, cluster: Cluster | None = None,
           kubeconfig: str | None = None) -> TrainingJob:
    """Submit `command` as a Job and return its handle at once (see the module docstring)."""
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    if not argv:
        raise JobSpecError("command is empty: pass e.g. 'python train.py'")
    packed_names = None
    archive = None
    if code is not None:
        archive, packed_names = jobs_code.pack(code)
    _script_check(argv, packed_names, code)
    cluster = cluster or connect(kubeconfig)
    if cluster.embedded and argv[0] in ("python", "python3"):
        argv[0] = sys.executable  # pods run on this machine: use this environment's Python
    req = JobRequest(command=argv, name=name or default_name(argv),
                     namespace=namespace or cluster.namespace, image=image or DEFAULT_IMAGE,
                     code=archive, gpus=gpus, gpu_share=gpu_share, gpu_model=gpu_model,
                     cpus=cpus, memory=memory, env=dict(env or {}), retries=retries,
                     deadline=deadline, ttl=ttl, completions=completions,
                     parallelism=parallelism, priority=priority, dask_workers=dask_workers,
                     outputs=outputs)
    validate(req)
    if dask_workers:
        return jobs_dask.submit(req, cluster)  # type: ignore[no-any-return]
    _create(cluster, req, job_manifest(req))
    return TrainingJob(req.name, cluster, req.namespace)


def _create(cluster: Cluster, req: JobRequest, manifest: dict[str, Any]) -> dict[str, Any]:
    """ConfigMap and claim first (so the pods find them), then the Job, then make the Job
    their owner so deleting it (or its TTL) removes them. Undone on failure."""
    http, ns = cluster.http, req.namespace
    created: list[str] = []  # REST paths, undone in reverse on failure
    try:
        if req.code is not None:
            http.create(_path("configmaps", ns), code_configmap(req))
            created.append(_path("configmaps", ns, f"{req.name}-code"))
        if req.outputs:
            http.create(_path("persistentvolumeclaims", ns), outputs_claim(req))
            created.append(_path("persistentvolumeclaims", ns, f"{req.name}-outputs"))
        if manifest["kind"] == "Job":
            owner = http.create(_path("jobs", ns), manifest)
        else:
            owner = http.create(resource_path(manifest["apiVersion"], "daskjobs", ns), manifest)
    except APIStatusError as exc:
        for path in reversed(created):
            try:
                http.delete(path)
            except APIStatusError:
                pass
        if exc.status == 409:
            raise JobError(f"a job named {req.name!r} (or its code/outputs) already exists in "
                           f"namespace {ns}: pick another name or delete it with "
                           f"`daskhub-lite job delete {req.name}`") from exc
        raise _api_error(exc, f"submitting job {req.name}") from exc
    patch = {"metadata": {"ownerReferences": [owner_reference(owner)]}}
    for path in created:
        http.patch(path, patch)
    return dict(owner)


def get(name: str, *, namespace: str | None = None, cluster: Cluster | None = None,
        kubeconfig: str | None = None) -> TrainingJob:
    cluster = cluster or connect(kubeconfig)
    job = TrainingJob(name, cluster, namespace)
    try:
        job._job()
    except JobNotFound:
        if not jobs_dask.available(cluster):
            raise
        job = TrainingJob(name, cluster, namespace, kind="DaskJob")
        job._job()  # raises JobNotFound
    return job


def dask_jobs_available(*, cluster: Cluster | None = None,
                        kubeconfig: str | None = None) -> bool:
    """Whether `dask_workers > 0` can run here (the dask-kubernetes operator is installed)."""
    return jobs_dask.available(cluster or connect(kubeconfig))


def list(*, namespace: str | None = None, cluster: Cluster | None = None,  # noqa: A001
         kubeconfig: str | None = None) -> _list[JobState]:
    """The state of every daskhub-lite job in the namespace, oldest first."""
    cluster = cluster or connect(kubeconfig)
    ns = namespace or cluster.namespace
    selector = ",".join(f"{k}={v}" for k, v in MANAGED_BY.items())
    jobs = cluster.http.get(_path("jobs", ns), labelSelector=selector)["items"]
    jobs += jobs_dask.list_all(cluster, ns, selector)
    pods = cluster.http.get(_path("pods", ns), labelSelector=JOB_LABEL)["items"]
    out = []
    for job in sorted(jobs, key=lambda j: j["metadata"].get("creationTimestamp") or ""):
        name = job["metadata"]["name"]
        mine = [p for p in pods if (p["metadata"].get("labels") or {}).get(JOB_LABEL) == name
                and jobs_outputs.HELPER_ROLE not in (p["metadata"].get("labels") or {})
                and (p["metadata"].get("labels") or {}).get("dask.org/component") not in (
                    "scheduler", "worker")]
        out.append(summarize(job, mine))
    return out
