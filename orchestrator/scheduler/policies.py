"""Named scheduling profiles: ours (the default), and the baselines the benchmark compares."""

from __future__ import annotations

from typing import Callable

from .filters import default_filters
from .fragmentation import FgdScore, HybridFragScore, StrandedGpuScore
from .scheduler import Scheduler
from .scores import BestFit, GpuNodeAvoidance, LeastDeviceShare

DEFAULT_POLICY = "hybrid"


def hybrid() -> Scheduler:
    """Ours: minimise the increase of expected fragmentation, FGD's measure plus stranded GPU
    (see `fragmentation`), in milli-GPU; best fit breaks near-ties; CPU-only pods stay away
    from GPU nodes whenever they have a choice."""
    return Scheduler(default_filters(), [
        (HybridFragScore(), 1.0),
        (BestFit(), 1.0),
        (LeastDeviceShare(), 0.01),
        (GpuNodeAvoidance(), 1e6),
    ])


def stranded() -> Scheduler:
    """Stranded GPU alone (an ablation of ours)."""
    return Scheduler(default_filters(), [
        (StrandedGpuScore(), 1.0),
        (BestFit(), 1.0),
        (LeastDeviceShare(), 0.01),
        (GpuNodeAvoidance(), 1e6),
    ])


def fgd() -> Scheduler:
    """FGD (Weng et al., ATC '23), re-implemented: minimise the increase of expected
    fragmentation; typical pods learned online, unquantised scores, name tie-break."""
    return Scheduler(default_filters(), [(FgdScore(), 1.0)])


def bestfit() -> Scheduler:
    """The paper's best-fit baseline: least leftover CPU and GPU, fullest device for shares."""
    return Scheduler(default_filters(), [(BestFit(), 1.0), (LeastDeviceShare(), 1e-6)])


POLICIES: dict[str, Callable[[], Scheduler]] = {
    "hybrid": hybrid,
    "stranded": stranded,
    "fgd": fgd,
    "bestfit": bestfit,
}


def make_scheduler(name: str = DEFAULT_POLICY) -> Scheduler:
    try:
        return POLICIES[name]()
    except KeyError:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(sorted(POLICIES))}") from None
