"""Test harness for the pod network: runs `orchestrator.network`'s components against a
live ControlPlane (as API clients, in their own thread), and starts pod processes the way
the runtime will: with the env and PYTHONPATH that `PodNetwork.attach` returns.

Pods are created through the real API and moved to Running/Ready by patching their status
from the test, since the process runtime is not wired to the network yet.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from orchestrator import network
from orchestrator.api.kinds import BUILTIN_TYPES
from orchestrator.client import Client

HERE = Path(__file__).parent
NETAPP = str(HERE / "netapp.py")
PODS = next(rt for rt in BUILTIN_TYPES if rt.group == "" and rt.plural == "pods")


class NetworkHarness:
    def __init__(self, cp: Any, ingress_port: int | None = 0) -> None:
        self.cp = cp
        self.ingress_port = ingress_port
        self.loop = asyncio.new_event_loop()
        self.components: list[Any] = []
        self.procs: list[subprocess.Popen[str]] = []
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Task[None]] = []

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> "NetworkHarness":
        self._thread.start()

        async def boot() -> None:
            self.client = Client.from_kubeconfig(self.cp.kubeconfig, user_agent="net-test")
            self.components = network.build(self.client, ingress_port=self.ingress_port)
            self._tasks = [asyncio.create_task(c.run()) for c in self.components]
            for c in self.components:
                await c.wait_ready()

        self.call(boot())
        self.pods = network.pod_network(self.components)
        return self

    @property
    def ingress(self) -> Any:
        return next(c for c in self.components if type(c).__name__ == "IngressController")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

        async def down() -> None:
            for c in self.components:
                stop = getattr(c, "shutdown", None)
                if stop is not None:
                    await stop()
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.client.close()

        self.call(down())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    # -- pods ----------------------------------------------------------------------------

    def create_pod(self, name: str, labels: dict[str, str], *, namespace: str = "default",
                   ports: list[dict[str, Any]] | None = None,
                   extra_spec: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": namespace, "labels": labels},
                "spec": {"containers": [{"name": "app", "image": "python",
                                         "ports": ports or []}], **(extra_spec or {})}}
        pod: dict[str, Any] = self.call(self.client.create(PODS, body, namespace))
        return pod

    def start_process(self, pod: dict[str, Any], args: list[str],
                      wait_line: str | None = "ready") -> tuple[str, subprocess.Popen[str]]:
        """Start a pod's process with the env the runtime will give it; (pod IP, process)."""
        att = self.pods.attach(pod)
        env = {**os.environ, **att.env, "KUBECONFIG": self.cp.kubeconfig,
               "PYTHONPATH": os.pathsep.join(att.pythonpath + [os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, *args], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.procs.append(proc)
        if wait_line is not None:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert wait_line in line, f"pod process did not start: {line}{proc.stdout.read()}"
        return att.ip, proc

    def set_status(self, pod: dict[str, Any], ip: str, ready: bool) -> None:
        md = pod["metadata"]
        status = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "127.0.0.1",
                  "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
        self.call(self.client.patch(PODS, md["name"], {"status": status}, md["namespace"],
                                    subresource="status"))

    def run_app_pod(self, name: str, labels: dict[str, str], answer: str, port: int, *,
                    namespace: str = "default", ready: bool = True,
                    extra_spec: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        pod = self.create_pod(name, labels, namespace=namespace, extra_spec=extra_spec,
                              ports=[{"name": "http", "containerPort": port}])
        ip, _ = self.start_process(pod, [NETAPP, answer, str(port)])
        self.set_status(pod, ip, ready)
        return pod, ip

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        rt = next(r for r in BUILTIN_TYPES
                  if r.api_version == obj["apiVersion"] and r.kind == obj["kind"])
        result: dict[str, Any] = self.call(self.client.create(
            rt, obj, obj["metadata"].get("namespace", "default") if rt.namespaced else None))
        return result


def http_get(url: str, timeout: float = 5, headers: dict[str, str] | None = None) -> str:
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read().decode()


def http_json(url: str, **kw: Any) -> Any:
    return json.loads(http_get(url, **kw))


def poll(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except Exception as exc:  # the thing polled for is not there yet
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
