"""Pure parts of the metrics API: CPU time to nanocores, the window a rate is measured over,
quantities and durations as metrics-server writes them, objects and Table from summaries."""

from __future__ import annotations

import pytest

from orchestrator.api import metrics
from orchestrator.api.errors import BadRequest
from orchestrator.api.metrics import Sample


@pytest.mark.parametrize(("earlier", "later", "expected"), [
    (Sample(0.0, 0), Sample(1.0, 1_000_000_000), 1_000_000_000),  # one core, one second
    (Sample(10.0, 5_000_000_000), Sample(12.0, 6_000_000_000), 500_000_000),  # half a core
    (Sample(0.0, 0), Sample(4.0, 10_000_000), 2_500_000),  # 10 ms of CPU over 4 s
    (Sample(0.0, 0), Sample(0.5, 3_000_000_000), 6_000_000_000),  # six cores busy
    (Sample(1.0, 900), Sample(2.0, 100), 0),  # counter went back (restart): no negative
    (Sample(2.0, 0), Sample(2.0, 100), 0),  # no time between readings
])
def test_nanocores(earlier: Sample, later: Sample, expected: int) -> None:
    assert metrics.nanocores(earlier, later) == expected


def test_window_starts_at_the_newest_reading_a_second_old() -> None:
    start = Sample(100.0, 0)
    history = [Sample(101.0, 10), Sample(105.0, 50), Sample(109.7, 90)]
    assert metrics.window_start(history, 110.0, start) == Sample(105.0, 50)
    assert metrics.window_start(history, 110.0, start, min_window=0.2) == Sample(109.7, 90)
    # A container with no earlier reading is measured from its start, counter at zero.
    assert metrics.window_start([], 110.0, start) == start
    assert metrics.window_start([Sample(109.9, 5)], 110.0, start) == start
    # Readings from before a restart (older than the new start) never count.
    assert metrics.window_start([Sample(50.0, 7)], 110.0, start) == start


def test_ticks_to_nanoseconds() -> None:
    assert metrics.ticks_to_ns(250, 100) == 2_500_000_000
    assert metrics.ticks_to_ns(3, 1000) == 3_000_000


@pytest.mark.parametrize(("nano", "text"), [
    (0, "0"), (12345, "12345n"), (12_345_000, "12345u"), (12_000_000, "12m"),
    (733_865_886, "733865886n"), (1_000_000_000, "1"), (2_500_000_000, "2500m"),
    (-5, "0"),
])
def test_cpu_quantity(nano: int, text: str) -> None:
    assert metrics.cpu_quantity(nano) == text


@pytest.mark.parametrize(("size", "text"), [
    (0, "0"), (512, "512"), (1536, "1536"), (94_876 * 1024, "94876Ki"),
    (64 * 2**20, "64Mi"), (3 * 2**30, "3Gi"), (4096 * 3, "12Ki"),
])
def test_memory_quantity(size: int, text: str) -> None:
    assert metrics.memory_quantity(size) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (0.0000005, "500ns"), (0.0000015, "1.5µs"), (0.85, "850ms"),
    (15.002, "15.002s"), (4.292337418, "4.292337418s"), (1.0, "1s"), (60, "1m0s"),
    (65.5, "1m5.5s"), (7201.5, "2h0m1.5s"),
])
def test_go_duration(seconds: float, text: str) -> None:
    assert metrics.go_duration(seconds) == text


POD = {"metadata": {"name": "web", "namespace": "team", "uid": "u1",
                    "labels": {"app": "web"}},
       "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}
STATS = {"containers": [
    {"name": "a", "cpu": {"time": "2026-01-01T00:00:10Z", "usageNanoCores": 12_000_000,
                          "windowNanoSeconds": 15_000_000_000},
     "memory": {"workingSetBytes": 2**20}},
    {"name": "b", "cpu": {"time": "2026-01-01T00:00:09Z", "usageNanoCores": 345,
                          "windowNanoSeconds": 14_500_000_000},
     "memory": {"workingSetBytes": 8192}}]}


def test_pod_metrics_from_a_summary_entry() -> None:
    item = metrics.pod_metrics(POD, STATS, "2026-01-01T00:00:11Z")
    assert item == {
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web", "namespace": "team",
                     "creationTimestamp": "2026-01-01T00:00:11Z", "labels": {"app": "web"}},
        "timestamp": "2026-01-01T00:00:09Z", "window": "14.5s",
        "containers": [{"name": "a", "usage": {"cpu": "12m", "memory": "1Mi"}},
                       {"name": "b", "usage": {"cpu": "345n", "memory": "8Ki"}}]}
    # No figures (not running, node silent): left out, as metrics-server leaves it out.
    assert metrics.pod_metrics(POD, None, "x") is None
    assert metrics.pod_metrics(POD, {"containers": []}, "x") is None


def test_simulated_pods_report_zeros() -> None:
    item = metrics.pod_metrics(POD, metrics.idle_pod_stats(POD), "2026-01-01T00:00:11Z")
    assert item is not None
    assert [c["usage"] for c in item["containers"]] == [{"cpu": "0", "memory": "0"}] * 2


def test_table_sums_a_pods_containers() -> None:
    item = metrics.pod_metrics(POD, STATS, "2026-01-01T00:00:11Z")
    assert item is not None
    table = metrics.metrics_table([item])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "cpu", "memory",
                                                               "Window"]
    assert table["rows"][0]["cells"] == ["web", "12000345n", "1032Ki", "14.5s"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert "object" not in metrics.metrics_table([item], "None")["rows"][0]
    with pytest.raises(BadRequest, match='unrecognized includeObject value: "All"'):
        metrics.metrics_table([item], "All")
    assert metrics.metrics_table([])["rows"] == []
