"""`daskhub-lite scheduler replay`: schedule a trace through the live scheduler's own code.

Each trace row becomes a real Pod dict and goes through `PodInfo.from_pod`, then
`Scheduler.schedule_one` and `ClusterState.assume`, one pod at a time, never looking at later
pods and never removing any. The default follows the FGD paper's protocol: shuffle with the
seed, then append pods resampled from the list until the GPU request would exceed
`inflate` x cluster GPU capacity.

    python -m orchestrator.scheduler.replay --nodes NODES.csv --pods PODS.csv --out out.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence, TextIO

from .nodeinfo import NodeInfo
from .podinfo import PodInfo
from .policies import DEFAULT_POLICY, POLICIES, make_scheduler
from .scheduler import Scheduler
from .state import ClusterState
from .trace import TraceError, TraceNode, TracePod, node_object, pod_object, read_nodes, read_pods


@dataclass(frozen=True, slots=True)
class Placement:
    index: int
    name: str
    node: str  # "" when the pod stayed pending
    gpu_devices: str
    gpu_milli: int


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    pods: int
    placed: int
    pending: int
    gpu_alloc_ratio: float
    arrived_ratio: float
    seconds: float

    def to_json(self) -> str:
        return json.dumps({"pods": self.pods, "placed": self.placed, "pending": self.pending,
                           "gpu_alloc_ratio": round(self.gpu_alloc_ratio, 6),
                           "arrived_ratio": round(self.arrived_ratio, 6),
                           "seconds": round(self.seconds, 3)})


def gpu_capacity_milli(nodes: Sequence[TraceNode]) -> int:
    return sum(n.gpus for n in nodes) * 1000


def build_workload(pods: Sequence[TracePod], capacity_milli: int, seed: int = 42,
                   inflate: float = 1.3, order: str = "shuffle") -> list[tuple[str, TracePod]]:
    """The arrival sequence: (pod name, row). Shuffled or as-is; when `inflate` > 1, rows
    resampled from the list are appended until the next one would push the summed GPU request
    over `inflate` x capacity (the published protocol)."""
    rng = random.Random(seed)
    rows = list(pods)
    if order == "shuffle":
        rng.shuffle(rows)
    elif order != "as-is":
        raise ValueError(f"unknown order {order!r}; use shuffle or as-is")
    workload = [(p.name, p) for p in rows]
    if inflate > 1.0 and pods:
        target = inflate * capacity_milli
        requested = sum(p.gpu_request_milli for p in rows)
        extra = 0
        while True:
            pick = pods[rng.randrange(len(pods))]
            if requested + pick.gpu_request_milli > target:
                break
            requested += pick.gpu_request_milli
            workload.append((f"{pick.name}-r{extra}", pick))
            extra += 1
    return workload


def run_replay(nodes: Sequence[TraceNode], workload: Sequence[tuple[str, TracePod]],
               scheduler: Scheduler) -> list[Placement]:
    state = ClusterState()
    for node in nodes:
        state.add_node(NodeInfo.from_node(node_object(node)))
    placements: list[Placement] = []
    for index, (name, row) in enumerate(workload):
        pod = PodInfo.from_pod(pod_object(row, name))
        decision = scheduler.schedule_one(pod, state)
        if decision.node is not None:
            scheduler.assume(state, pod, decision)
            placements.append(Placement(index, name, decision.node, decision.device_annotation,
                                        pod.gpu.total_milli))
        else:
            placements.append(Placement(index, name, "", "", 0))
    return placements


def summarise(workload: Sequence[tuple[str, TracePod]], placements: Sequence[Placement],
              capacity_milli: int, seconds: float) -> ReplaySummary:
    placed = sum(1 for p in placements if p.node)
    allocated = sum(p.gpu_milli for p in placements)
    arrived = sum(row.gpu_request_milli for _, row in workload)
    capacity = capacity_milli or 1
    return ReplaySummary(len(placements), placed, len(placements) - placed, allocated / capacity,
                         arrived / capacity, seconds)


def write_placements(out: TextIO, placements: Sequence[Placement]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["index", "name", "node", "gpu_devices"])
    for p in placements:
        writer.writerow([p.index, p.name, p.node, p.gpu_devices])


def replay_files(nodes_path: str | Path, pods_path: str | Path, seed: int = 42,
                 inflate: float = 1.3, order: str = "shuffle",
                 policy: str = DEFAULT_POLICY) -> tuple[list[Placement], ReplaySummary]:
    started = time.perf_counter()
    nodes = read_nodes(nodes_path)
    pods = read_pods(pods_path)
    capacity = gpu_capacity_milli(nodes)
    workload = build_workload(pods, capacity, seed=seed, inflate=inflate, order=order)
    placements = run_replay(nodes, workload, make_scheduler(policy))
    return placements, summarise(workload, placements, capacity, time.perf_counter() - started)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="daskhub-lite scheduler replay",
                                     description="Replay an openb GPU trace through the scheduler.")
    parser.add_argument("--nodes", required=True, help="node list CSV (sn,cpu_milli,memory_mib,gpu,model)")
    parser.add_argument("--pods", required=True, help="pod list CSV (name,cpu_milli,memory_mib,num_gpu,gpu_milli,...)")
    parser.add_argument("--seed", type=int, default=42, help="shuffle and resampling seed (default 42)")
    parser.add_argument("--inflate", type=float, default=1.3,
                        help="resample until GPU requests reach this x capacity (default 1.3; <= 1 adds none)")
    parser.add_argument("--order", choices=("shuffle", "as-is"), default="shuffle")
    parser.add_argument("--policy", choices=sorted(POLICIES), default=DEFAULT_POLICY,
                        help=f"scoring policy (default {DEFAULT_POLICY})")
    parser.add_argument("--out", required=True, help="placements CSV to write (- for stdout)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        placements, summary = replay_files(args.nodes, args.pods, seed=args.seed,
                                           inflate=args.inflate, order=args.order, policy=args.policy)
    except TraceError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if args.out == "-":
            write_placements(sys.stdout, placements)
        else:
            with open(args.out, "w", newline="", encoding="utf-8") as out:
                write_placements(out, placements)
    except OSError as err:
        print(f"error: cannot write {args.out}: {err.strerror}", file=sys.stderr)
        return 2
    print(summary.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
