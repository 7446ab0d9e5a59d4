"""The garbage collector's pure decisions about dependents and foreground owners."""

from __future__ import annotations

from typing import Any

from orchestrator.controllers.garbagecollector import (
    blocking, is_deleting_dependents, plan_dependent, without_owner,
)


def obj(uid: str, refs: list[dict[str, Any]] | None = None, **md: Any) -> dict[str, Any]:
    return {"metadata": {"name": uid, "uid": uid, "ownerReferences": refs or [], **md}}


def ref(uid: str, block: bool = True) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": uid, "uid": uid,
            "blockOwnerDeletion": block}


def test_no_owner_refs_no_action() -> None:
    assert plan_dependent(obj("p"), {}, False).action == "none"


def test_owner_present_keeps_dependent() -> None:
    assert plan_dependent(obj("p", [ref("o")]), {"o": obj("o")}, False).action == "none"


def test_all_owners_gone_deletes_in_background() -> None:
    plan = plan_dependent(obj("p", [ref("o")]), {"o": None}, False)
    assert (plan.action, plan.propagation) == ("delete", "Background")


def test_own_finalizers_choose_the_policy() -> None:
    plan = plan_dependent(obj("p", [ref("o")], finalizers=["orphan"]), {"o": None}, False)
    assert plan.propagation == "Orphan"
    plan = plan_dependent(obj("p", [ref("o")], finalizers=["foregroundDeletion"]),
                          {"o": None}, False)
    assert plan.propagation == "Foreground"


def test_some_owners_gone_removes_their_refs_only() -> None:
    plan = plan_dependent(obj("p", [ref("a"), ref("b")]), {"a": obj("a"), "b": None}, False)
    assert (plan.action, plan.remove_uids) == ("remove-refs", ("b",))


def test_foreground_owner_deletes_dependents_and_chains() -> None:
    owner = obj("o", deletionTimestamp="2024-01-01T00:00:00Z",
                finalizers=["foregroundDeletion"])
    assert is_deleting_dependents(owner)
    leaf = plan_dependent(obj("p", [ref("o")]), {"o": owner}, has_dependents=False)
    assert (leaf.action, leaf.propagation) == ("delete", "Background")
    middle = plan_dependent(obj("rs", [ref("o")]), {"o": owner}, has_dependents=True)
    assert (middle.action, middle.propagation) == ("delete", "Foreground")
    other = plan_dependent(obj("p", [ref("o"), ref("x")]), {"o": owner, "x": obj("x")}, False)
    assert (other.action, other.remove_uids) == ("remove-refs", ("o",))


def test_being_deleted_dependent_is_left_alone() -> None:
    plan = plan_dependent(obj("p", [ref("o")], deletionTimestamp="2024-01-01T00:00:00Z"),
                          {"o": None}, False)
    assert plan.action == "none"


def test_blocking_and_ref_removal() -> None:
    deps = [obj("a", [ref("o")]), obj("b", [ref("o", block=False)]), obj("c", [ref("x")])]
    assert [d["metadata"]["name"] for d in blocking("o", deps)] == ["a"]
    assert without_owner([ref("o"), ref("x")], ["o"]) == [ref("x")]
