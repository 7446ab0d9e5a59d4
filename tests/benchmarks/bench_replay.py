"""Replay benchmark: GPU allocation ratio at 130% arrived load, per policy and trace.

Prints, for each openb trace and seeds 42-51, the mean allocation ratio of our policy, the FGD
re-implementation and best fit (all through the same `schedule_one` code path), beside FGD's
published figures, and the wall time per replay. Figures are printed, never asserted.

The trace is the full one in `$OPENB_DIR` when set; else, with `--download` (or
`OPENB_DOWNLOAD=1` under pytest), the full one fetched once from alibaba/clusterdata at a pinned
commit into `${XDG_CACHE_HOME:-~/.cache}/daskhub-lite/openb/` (checksums verified); else the
slice shipped in `data/openb/` (default pods only; published figures are for the full trace).

    python tests/benchmarks/bench_replay.py [--download] [--seeds 42-51] [--traces default] [-j 2]
    pytest -m bench tests/benchmarks/bench_replay.py -s
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Sequence

import pytest

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "openb"
NODES = "openb_node_list_gpu_node.csv"
TRACES = ("default", "gpushare40", "multigpu20")
# The full trace, as data/openb/README.md describes it: commit and each file's sha256.
UPSTREAM = ("https://raw.githubusercontent.com/alibaba/clusterdata/"
            "7a6c496e4f4b6ce6150be8f881cb051bf2abff42/cluster-trace-gpu-v2023/csv/")
SHA256 = {NODES: "2beca64b4d3dfa342036a34b56a495c6cef9225db836c81f541282cb1df320b5",
          "openb_pod_list_default.csv":
              "1ee7ed79c27a3b0861cda8ddba86a004c6aba904caafa329a76ae93ca63834a8",
          "openb_pod_list_gpushare40.csv":
              "d83ce79a4eb6987524bedbb0c65e41aed3a36bf6c1b78b86234c3687a07e1d40",
          "openb_pod_list_multigpu20.csv":
              "d9ec6f6c74fb980cc0b81239470c6353fceea077ea9abd610003b604c7cc2b01"}
POLICIES = ("hybrid", "fgd", "bestfit")
# FGD paper artefact (hkust-adsl/kubernetes-scheduler-simulator, expected results), 130% load.
PUBLISHED = {"default": {"fgd": 95.39, "bestfit": 93.08},
             "gpushare40": {"fgd": 94.15},
             "multigpu20": {"fgd": 95.65}}


def download(cache: Path) -> Path:
    """The full trace in `cache`, fetched file by file where missing and checked by sha256."""
    cache.mkdir(parents=True, exist_ok=True)
    for name, digest in SHA256.items():
        target = cache / name
        if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            continue
        print(f"downloading {UPSTREAM}{name}", file=sys.stderr)
        try:
            with urllib.request.urlopen(UPSTREAM + name, timeout=120) as response:
                body = response.read()
        except OSError as err:
            raise SystemExit(f"error: cannot download {UPSTREAM}{name}: {err}") from None
        if hashlib.sha256(body).hexdigest() != digest:
            raise SystemExit(f"error: {UPSTREAM}{name}: sha256 differs from the pinned trace")
        partial_file = target.with_name(name + ".part")  # never a half-written trace file
        partial_file.write_bytes(body)
        partial_file.replace(target)
    return cache


def trace_source(fetch: bool) -> tuple[Path, tuple[str, ...]]:
    """Where the trace is and which pod lists it has: `$OPENB_DIR`, else the downloaded full
    trace when `fetch`, else the shipped slice."""
    if os.environ.get("OPENB_DIR"):
        data = Path(os.environ["OPENB_DIR"])
        traces = tuple(t for t in TRACES if (data / f"openb_pod_list_{t}.csv").is_file())
        if not traces:
            raise SystemExit(f"error: OPENB_DIR={data} has no openb_pod_list_*.csv of "
                             f"{', '.join(TRACES)}")
        return data, traces
    if fetch:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return download(cache / "daskhub-lite" / "openb"), TRACES
    return SHIPPED, ("default",)


def _one(data: Path, args: tuple[str, str, int]) -> tuple[str, str, int, float, float]:
    from orchestrator.scheduler.replay import replay_files

    trace, policy, seed = args
    started = time.perf_counter()
    _, summary = replay_files(data / NODES, data / f"openb_pod_list_{trace}.csv", seed=seed,
                              policy=policy)
    return trace, policy, seed, summary.gpu_alloc_ratio, time.perf_counter() - started


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def run(data: Path, traces: Sequence[str], policies: Sequence[str], seeds: Sequence[int],
        jobs: int) -> str:
    work = [(t, p, s) for t in traces for p in policies for s in seeds]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(partial(_one, data), work))
    lines = [f"openb replay of {data}, inflate 1.3, seeds {seeds[0]}..{seeds[-1]} "
             f"({len(seeds)}), {jobs} worker(s); mean GPU allocation ratio (min..max), "
             "seconds per replay"]
    for trace in traces:
        for policy in policies:
            rows = [r for r in results if r[0] == trace and r[1] == policy]
            ratios = [100 * r[3] for r in rows]
            seconds = [r[4] for r in rows]
            published = PUBLISHED.get(trace, {}).get(policy) if data != SHIPPED else None
            note = f"  (published {published:.2f}%)" if published else ""
            lines.append(f"{trace:11s} {policy:9s} {statistics.mean(ratios):6.2f}% "
                         f"({min(ratios):.2f}..{max(ratios):.2f})  "
                         f"{statistics.mean(seconds):5.2f}s/replay (max {max(seconds):.2f}s){note}")
        if "fgd" not in policies and trace in PUBLISHED and data != SHIPPED:
            lines.append(f"{trace:11s} {'FGD':9s} published {PUBLISHED[trace]['fgd']:.2f}%")
    return "\n".join(lines)


@pytest.mark.bench
def test_replay_benchmark() -> None:
    data, traces = trace_source(fetch=os.environ.get("OPENB_DOWNLOAD") == "1")
    print()
    print(run(data, traces, POLICIES, list(range(42, 52)),
              jobs=max(1, min(2, os.cpu_count() or 1))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--traces", help="pod lists (default: all the trace has)")
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("--download", action="store_true",
                        help="without $OPENB_DIR, fetch the full trace (once) instead of the slice")
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="parallel replays (1 gives the cleanest per-replay time)")
    args = parser.parse_args(argv)
    data, traces = trace_source(args.download)
    chosen = args.traces.split(",") if args.traces else list(traces)
    missing = [t for t in chosen if not (data / f"openb_pod_list_{t}.csv").is_file()]
    if missing:
        parser.error(f"{data} has no pod list for trace(s) {', '.join(missing)}")
    print(run(data, chosen, args.policies.split(","), _seeds(args.seeds), args.jobs))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
