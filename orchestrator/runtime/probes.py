"""Probes (exec, httpGet, tcpSocket) and the loop that turns results into verdicts.

`ProbeLoop` counts consecutive results against `successThreshold`/`failureThreshold` and calls
back only when the verdict changes, as the kubelet's prober workers do.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping

import aiohttp

log = logging.getLogger(__name__)

ExecFn = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]


@dataclass
class ProbeResult:
    ok: bool
    message: str = ""


def _port(value: Any, container: Mapping[str, Any]) -> int:
    if isinstance(value, int):
        return value
    for p in container.get("ports") or []:
        if p.get("name") == value:
            return int(p["containerPort"])
    return int(str(value)) if str(value).isdigit() else 0


async def run_probe(probe: Mapping[str, Any], container: Mapping[str, Any], host: str,
                    exec_fn: ExecFn) -> ProbeResult:
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "exec" in probe:
        command = [str(a) for a in (probe["exec"] or {}).get("command") or []]
        try:
            code, output = await exec_fn(command, timeout)
        except asyncio.TimeoutError:
            return ProbeResult(False, f"command timed out after {timeout:g}s")
        except OSError as exc:
            return ProbeResult(False, str(exc))
        text = output.decode(errors="replace").strip()
        return ProbeResult(code == 0, text or f"command exited with code {code}")
    if "httpGet" in probe:
        action = probe["httpGet"] or {}
        scheme = str(action.get("scheme", "HTTP")).lower()
        url = f"{scheme}://{action.get('host') or host}:{_port(action.get('port'), container)}" \
              f"{action.get('path', '/')}"
        headers = {h["name"]: h["value"] for h in action.get("httpHeaders") or []}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
                async with s.get(url, headers=headers, ssl=False) as resp:
                    if 200 <= resp.status < 400:
                        return ProbeResult(True)
                    return ProbeResult(False, f"HTTP probe failed with statuscode: "
                                              f"{resp.status}")
        except asyncio.TimeoutError:
            return ProbeResult(False, f'Get "{url}": context deadline exceeded')
        except aiohttp.ClientError as exc:
            return ProbeResult(False, f'Get "{url}": {exc}')
    if "tcpSocket" in probe:
        action = probe["tcpSocket"] or {}
        port = _port(action.get("port"), container)
        target = action.get("host") or host
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(target, port), timeout)
            writer.close()
            return ProbeResult(True)
        except (OSError, asyncio.TimeoutError) as exc:
            return ProbeResult(False, f"dial tcp {target}:{port}: {exc or 'i/o timeout'}")
    return ProbeResult(False, "probe has no handler (exec, httpGet, tcpSocket)")


class ProbeLoop:
    """Runs one probe periodically; `on_change(ok, message)` when the verdict flips, and
    `on_failure(message)` for each failed attempt (for the Unhealthy Event)."""

    def __init__(self, kind: str, probe: Mapping[str, Any], container: Mapping[str, Any],
                 host: str, exec_fn: ExecFn,
                 on_change: Callable[[bool, str], Awaitable[None]],
                 on_failure: Callable[[str], Awaitable[None]]) -> None:
        self.kind = kind
        self.probe = probe
        self.container = container
        self.host = host
        self.exec_fn = exec_fn
        self.on_change = on_change
        self.on_failure = on_failure
        self.verdict: bool | None = None

    async def run(self) -> None:
        p = self.probe
        period = max(1.0, float(p.get("periodSeconds") or 10))
        success_needed = int(p.get("successThreshold") or 1)
        failure_needed = int(p.get("failureThreshold") or 3)
        await asyncio.sleep(float(p.get("initialDelaySeconds") or 0))
        successes = failures = 0
        while True:
            result = await run_probe(p, self.container, self.host, self.exec_fn)
            if result.ok:
                successes, failures = successes + 1, 0
                if successes >= success_needed and self.verdict is not True:
                    self.verdict = True
                    await self.on_change(True, result.message)
            else:
                successes, failures = 0, failures + 1
                await self.on_failure(result.message)
                if failures >= failure_needed and self.verdict is not False:
                    self.verdict = False
                    await self.on_change(False, result.message)
            await asyncio.sleep(period)
