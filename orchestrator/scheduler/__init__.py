"""GPU-aware scheduler: a pure core (this package) shared by the live scheduler and the replay.

The live scheduler and `replay` call the same things:

    state = ClusterState();  state.add_node(NodeInfo.from_node(node_dict))
    state.add_bound_pod(PodInfo.from_pod(bound_pod_dict), node_name)   # rebuild after restart
    scheduler = make_scheduler()                     # policy "hybrid"; also "fgd", "bestfit"
    decision = scheduler.schedule_one(PodInfo.from_pod(pod_dict), state)
    if decision.node: scheduler.assume(state, pod, decision)   # then bind; forget() on failure
    else: ...decision.message                        # PodScheduled=False message, kube's format
"""

from typing import Any

from .framework import Decision, FilterPlugin, ScorePlugin, Status
from .nodeinfo import NodeInfo
from .podinfo import PodInfo
from .policies import DEFAULT_POLICY, POLICIES, make_scheduler
from .scheduler import Scheduler
from .state import ClusterState

__all__ = ["ClusterState", "DEFAULT_POLICY", "Decision", "FilterPlugin", "NodeInfo", "POLICIES",
           "PodInfo", "ScorePlugin", "Scheduler", "Status", "make_scheduler"]


def build(client: Any) -> list[Any]:
    """The live default scheduler for the embedded control plane (see `live.py`)."""
    from .live import build as build_live

    return build_live(client)
