"""Cut the small slice of the openb GPU trace shipped in `data/openb/` from the full trace.

The full trace is `cluster-trace-gpu-v2023/csv/` of github.com/alibaba/clusterdata. The slice
keeps every column and copies its rows byte for byte (a row of the slice is a row of the
original, in the original order); only which rows survive is chosen here:

- nodes: about `--nodes` of them, drawn per node shape (GPU model, GPU count, CPU, memory) in
  proportion to the full list, and at least one node of every GPU model, so that the mix of
  models and shapes is the cluster's;
- pods: as many per GPU of the slice as the full list has per GPU of the cluster, drawn per
  request class (CPU-only, a share of one GPU, 1/2/4/8 whole GPUs; and `gpu_spec`) in
  proportion to the full list.

Draws use `random.Random(--seed)`, so the same inputs give the same slice.

    python tools/cut_openb_slice.py --source DIR                # write data/openb/*.csv
    python tools/cut_openb_slice.py --source DIR --check        # exit 1 if they differ
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Callable, Sequence

OUT_DIR = Path(__file__).resolve().parent.parent / "data" / "openb"
NODES_FILE = "openb_node_list_gpu_node.csv"
PODS_FILE = "openb_pod_list_default.csv"
DEFAULT_NODES = 200
DEFAULT_SEED = 2023

Row = tuple[str, dict[str, str]]  # (the original line, its fields by column)


def read_rows(path: Path) -> tuple[str, list[Row]]:
    """The header line and the rows, each kept as its original line (newline included)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except OSError as err:
        raise SystemExit(f"error: {path}: cannot read: {err.strerror}") from None
    if not lines:
        raise SystemExit(f"error: {path}: empty file")
    columns = lines[0].strip().split(",")
    rows = [(line, dict(zip(columns, line.rstrip("\r\n").split(","))))
            for line in lines[1:] if line.strip()]
    return lines[0], rows


def quotas(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` over the groups in proportion to `sizes` (largest remainder)."""
    whole = sum(sizes.values())
    exact = {k: total * n / whole for k, n in sizes.items()}
    share = {k: int(v) for k, v in exact.items()}
    by_remainder = sorted(sizes, key=lambda k: (exact[k] - share[k], k), reverse=True)
    for k in by_remainder[: total - sum(share.values())]:
        share[k] += 1
    return share


def stratified(rows: Sequence[Row], group_of: Callable[[dict[str, str]], str], total: int,
               rng: random.Random, at_least_one: Callable[[str], str] | None = None) -> list[Row]:
    """`total` rows drawn per group in proportion to group sizes, in their original order.
    With `at_least_one`, every value it maps a group to keeps at least one row."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (_, fields) in enumerate(rows):
        groups[group_of(fields)].append(index)
    share = quotas({k: len(v) for k, v in groups.items()}, total)
    if at_least_one is not None:
        kept = {at_least_one(k) for k, n in share.items() if n}
        for k in sorted(groups, key=lambda k: -len(groups[k])):
            if at_least_one(k) not in kept:
                share[k], kept = 1, kept | {at_least_one(k)}
    chosen = [i for k in sorted(groups) for i in rng.sample(groups[k], share[k])]
    return [rows[i] for i in sorted(chosen)]


def node_shape(fields: dict[str, str]) -> str:
    return "/".join(fields[c] for c in ("model", "gpu", "cpu_milli", "memory_mib"))


def request_class(fields: dict[str, str]) -> str:
    count, milli = int(fields["num_gpu"]), int(fields["gpu_milli"])
    kind = "cpu" if count == 0 else "share" if count == 1 and milli < 1000 else f"{count}gpu"
    return f"{kind}/{fields.get('gpu_spec', '')}"


def cut(source: Path, nodes: int, seed: int) -> dict[str, str]:
    """The slice's files, by name: their whole text."""
    rng = random.Random(seed)
    node_header, node_rows = read_rows(source / NODES_FILE)
    pod_header, pod_rows = read_rows(source / PODS_FILE)
    kept_nodes = stratified(node_rows, node_shape, nodes, rng,
                            at_least_one=lambda shape: shape.split("/")[0])
    gpus = sum(int(fields["gpu"]) for _, fields in kept_nodes)
    all_gpus = sum(int(fields["gpu"]) for _, fields in node_rows)
    kept_pods = stratified(pod_rows, request_class, round(len(pod_rows) * gpus / all_gpus), rng)
    return {NODES_FILE: node_header + "".join(line for line, _ in kept_nodes),
            PODS_FILE: pod_header + "".join(line for line, _ in kept_pods)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True,
                        help="folder with the full trace's CSV files (cluster-trace-gpu-v2023/csv)")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs")
    args = parser.parse_args(argv)
    files = cut(args.source, args.nodes, args.seed)
    if args.check:
        stale = [name for name, text in files.items() if not (args.out / name).is_file()
                 or (args.out / name).read_text(encoding="utf-8") != text]
        for name in stale:
            print(f"{args.out / name} differs from a fresh cut", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"{args.out / name}: {text.count(chr(10)) - 1} rows, {len(text.encode())} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
