"""Per-plane loopback ranges: the pure slot picking and the host-wide flock registry."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator import planeranges
from orchestrator.network import POD_CIDR
from orchestrator.planeranges import (
    RECORD_NAME, SLOTS, RangeLease, RangesError, candidate_slots, held_slots, parse_record,
    pick_slot, ranges_of)
from orchestrator.server import allocation


def test_slot_zero_is_todays_ranges() -> None:
    zero = ranges_of(0)
    assert zero.pod_cidr == POD_CIDR == allocation.POD_CIDR
    assert zero.service_cidr == allocation.SERVICE_CIDR
    assert zero.kubernetes_ip == "127.96.0.1" and zero.dns_ip == "127.96.0.10"
    assert zero.pod_probe_ip == "127.244.0.1"


def test_slots_are_disjoint_loopback_ranges() -> None:
    every = [ranges_of(k) for k in range(SLOTS)]
    nets = [r.pod_cidr for r in every] + [r.service_cidr for r in every]
    loopback = ipaddress.IPv4Network("127.0.0.0/8")
    assert all(n.subnet_of(loopback) for n in nets)
    assert all(not a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1:])
    host = ipaddress.IPv4Network("127.0.0.0/16")  # 127.0.0.1 and friends stay the host's
    assert not any(n.overlaps(host) for n in nets)
    assert ipaddress.IPv4Address("127.255.255.255") not in every[-1].pod_cidr
    assert ranges_of(3).describe() == "pods 127.247.0.0/16, services 127.99.0.0/16"


@pytest.mark.parametrize("slot", [-1, SLOTS])
def test_slot_out_of_range(slot: int) -> None:
    with pytest.raises(RangesError, match="out of range"):
        ranges_of(slot)


def test_pick_lowest_free_slot() -> None:
    assert candidate_slots(None) == list(range(SLOTS))
    assert pick_slot(None, set()) == 0
    assert pick_slot(None, {0, 1, 3}) == 2


def test_recorded_slot_is_kept_or_refused() -> None:
    assert candidate_slots(4) == [4]
    assert pick_slot(4, {0, 1, 2}) == 4
    with pytest.raises(RangesError, match=r"127\.248\.0\.0/16.*held by another control plane"):
        pick_slot(4, {4})


def test_every_slot_held() -> None:
    with pytest.raises(RangesError, match=f"all {SLOTS} network range slots"):
        pick_slot(None, set(range(SLOTS)))


@pytest.mark.parametrize("text", ["", "[]", '{"slot": "1"}', '{"slot": true}', '{"slot": 99}',
                                  '{"slot": 1, "podCIDR": "127.244.0.0/16"}', "{nope"])
def test_bad_record(tmp_path: Path, text: str) -> None:
    with pytest.raises(RangesError, match="network-ranges.json"):
        parse_record(text, tmp_path / RECORD_NAME)


def test_bad_record_refuses_start_and_is_kept(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / RECORD_NAME).write_text("{nope")
    with pytest.raises(RangesError, match="fix or remove it"):
        RangeLease(data, tmp_path / "reg").acquire()
    assert (data / RECORD_NAME).read_text() == "{nope"


def test_two_planes_get_distinct_slots_and_restart_keeps_its(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    first, second = RangeLease(tmp_path / "a", registry), RangeLease(tmp_path / "b", registry)
    with first as a, second as b:
        assert (a.slot, b.slot) == (0, 1)
        assert not first.shared_host and second.shared_host
        assert sorted(held_slots(registry)) == [0, 1]
        record = json.loads((tmp_path / "b" / RECORD_NAME).read_text())
        assert record == {"slot": 1, "podCIDR": "127.245.0.0/16",
                          "serviceCIDR": "127.97.0.0/16"}
    assert list(held_slots(registry)) == []
    # b restarts alone: it keeps slot 1 although slot 0 is free (its objects use slot 1).
    with RangeLease(tmp_path / "b", registry) as again:
        assert again.slot == 1
    assert (registry.stat().st_mode & 0o7777) == 0o1777


def test_restart_refused_when_its_slot_was_taken(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    with RangeLease(tmp_path / "a", registry):
        pass
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / RECORD_NAME).write_text('{"slot": 0}')
    with RangeLease(tmp_path / "c", registry):
        with pytest.raises(RangesError, match="held by another control plane"):
            RangeLease(tmp_path / "a", registry).acquire()


def test_a_killed_plane_frees_its_slot(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from orchestrator.planeranges import RangeLease;"
         f"RangeLease(Path({str(tmp_path / 'a')!r}), Path({str(registry)!r})).acquire();"
         "print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert list(held_slots(registry)) == [0]
        with RangeLease(tmp_path / "b", registry) as b:
            assert b.slot == 1
    finally:
        holder.kill()
        holder.wait()
    assert list(held_slots(registry)) == []
    with RangeLease(tmp_path / "a", registry) as a:
        assert a.slot == 0


def test_registry_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASKHUB_LITE_RANGES_DIR", str(tmp_path / "reg"))
    assert RangeLease(tmp_path / "a").registry_dir == tmp_path / "reg"
    monkeypatch.delenv("DASKHUB_LITE_RANGES_DIR")
    assert RangeLease(tmp_path / "a").registry_dir == planeranges.REGISTRY_DIR
