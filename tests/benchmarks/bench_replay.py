"""Replay benchmark: GPU allocation ratio at 130% arrived load, per policy and trace.

Prints, for each openb trace and seeds 42-51, the mean allocation ratio of our policy, the FGD
re-implementation and best fit (all through the same `schedule_one` code path), beside FGD's
published figures, and the wall time per replay. Figures are printed, never asserted.

    python tests/benchmarks/bench_replay.py [--seeds 42-51] [--traces default,...] [-j 2]
    pytest -m bench tests/benchmarks/bench_replay.py -s
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Sequence

import pytest

DATA = Path(os.environ.get("OPENB_DATA", Path(__file__).resolve().parents[3] / "shared" / "data" / "openb"))
NODES = "openb_node_list_gpu_node.csv"
TRACES = ("default", "gpushare40", "multigpu20")
POLICIES = ("hybrid", "fgd", "bestfit")
# FGD paper artefact (hkust-adsl/kubernetes-scheduler-simulator, expected results), 130% load.
PUBLISHED = {"default": {"fgd": 95.39, "bestfit": 93.08},
             "gpushare40": {"fgd": 94.15},
             "multigpu20": {"fgd": 95.65}}


def _one(args: tuple[str, str, int]) -> tuple[str, str, int, float, float]:
    from orchestrator.scheduler.replay import replay_files

    trace, policy, seed = args
    started = time.perf_counter()
    _, summary = replay_files(DATA / NODES, DATA / f"openb_pod_list_{trace}.csv", seed=seed,
                              policy=policy)
    return trace, policy, seed, summary.gpu_alloc_ratio, time.perf_counter() - started


def _seeds(text: str) -> list[int]:
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def run(traces: Sequence[str], policies: Sequence[str], seeds: Sequence[int], jobs: int) -> str:
    work = [(t, p, s) for t in traces for p in policies for s in seeds]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(_one, work))
    lines = [f"openb replay, inflate 1.3, seeds {seeds[0]}..{seeds[-1]} ({len(seeds)}), "
             f"{jobs} worker(s); mean GPU allocation ratio (min..max), seconds per replay"]
    for trace in traces:
        for policy in policies:
            rows = [r for r in results if r[0] == trace and r[1] == policy]
            ratios = [100 * r[3] for r in rows]
            seconds = [r[4] for r in rows]
            published = PUBLISHED.get(trace, {}).get(policy)
            note = f"  (published {published:.2f}%)" if published else ""
            lines.append(f"{trace:11s} {policy:9s} {statistics.mean(ratios):6.2f}% "
                         f"({min(ratios):.2f}..{max(ratios):.2f})  "
                         f"{statistics.mean(seconds):5.2f}s/replay (max {max(seconds):.2f}s){note}")
        if "fgd" not in policies and trace in PUBLISHED:
            lines.append(f"{trace:11s} {'FGD':9s} published {PUBLISHED[trace]['fgd']:.2f}%")
    return "\n".join(lines)


@pytest.mark.bench
def test_replay_benchmark() -> None:
    print()
    print(run(TRACES, POLICIES, list(range(42, 52)), jobs=max(1, min(2, os.cpu_count() or 1))))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="42-51")
    parser.add_argument("--traces", default=",".join(TRACES))
    parser.add_argument("--policies", default=",".join(POLICIES))
    parser.add_argument("-j", "--jobs", type=int, default=1,
                        help="parallel replays (1 gives the cleanest per-replay time)")
    args = parser.parse_args(argv)
    print(run(args.traces.split(","), args.policies.split(","), _seeds(args.seeds), args.jobs))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
