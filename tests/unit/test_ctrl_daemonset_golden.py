"""The DaemonSet controller's actions as golden files, as kwok tests its stages:
tests/unit/golden/daemonset/<case>.yaml holds the DaemonSet, what was observed (nodes, the
pods it controls, whether its revision exists) and the actions `daemonset_plan.actions`
returns, in order. `UPDATE_GOLDEN=1` rewrites the expected actions from the code."""

from __future__ import annotations

import dataclasses
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator.client import Action
from orchestrator.controllers.daemonset_plan import Observed, actions

GOLDEN = Path(__file__).parent / "golden" / "daemonset"
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def as_data(action: Action) -> dict[str, Any]:
    """An action as YAML-friendly data: its type and fields, a Kind as apiVersion/kind."""
    fields = dataclasses.asdict(action)
    return {"action": type(action).__name__,
            **{k: v for k, v in fields.items() if v not in (None, "", False)}}


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    case = yaml.safe_load(path.read_text())
    observed = Observed(nodes=case["observed"]["nodes"], pods=case["observed"]["pods"],
                        have_revision=case["observed"]["have_revision"])
    got = [as_data(a) for a in actions(case["object"], observed, NOW)]
    if os.environ.get("UPDATE_GOLDEN") == "1":
        case["actions"] = got
        path.write_text(yaml.safe_dump(case, sort_keys=False, width=100))
    assert got == case["actions"]


def test_golden_cases_exist() -> None:
    assert len(list(GOLDEN.glob("*.yaml"))) >= 2
