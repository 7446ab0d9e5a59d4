"""The node agent's readings: /proc and cgroup files parsed, a container's processes found."""

from __future__ import annotations

from pathlib import Path

from orchestrator.runtime import stats
from orchestrator.runtime.stats import Proc


def _stat_line(pid: int, comm: str, ppid: int, session: int, ticks: tuple[int, int, int, int],
               rss: int) -> str:
    # Fields 3.. of /proc/<pid>/stat: state ppid pgrp session tty tpgid flags minflt
    # cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue
    # starttime vsize rss ...
    rest = ["S", ppid, session, session, 0, -1, 4194560, 10, 0, 0, 0, *ticks, 20, 0, 1, 0,
            12345, 1000000, rss, 18446744073709551615]
    return f"{pid} ({comm}) " + " ".join(str(v) for v in rest)


def test_parse_proc_stat_with_an_awkward_command_name() -> None:
    line = _stat_line(42, "we (ird) name", 7, 40, (100, 20, 3, 4), 256)
    assert stats.parse_proc_stat(line) == Proc(ppid=7, session=40, cpu_ticks=127,
                                               rss_pages=256)
    assert stats.parse_proc_stat("garbage") is None


def test_container_processes_are_the_shims_session_and_descendants() -> None:
    table = {
        10: Proc(1, 10, 5, 100),    # the shim: left out
        11: Proc(10, 10, 200, 2000),  # the command
        12: Proc(11, 10, 30, 300),   # its child
        13: Proc(12, 13, 7, 70),     # a grandchild that called setsid
        20: Proc(1, 20, 999, 9999),  # someone else's shim
        21: Proc(20, 20, 999, 9999),
    }
    assert stats.container_pids(table, 10) == {11, 12, 13}
    reading = stats.proc_reading(table, 10)
    assert reading.cpu_ns == stats.ticks_to_ns(237, stats.CLOCK_TICKS)
    assert reading.working_set == 2370 * stats.PAGE_SIZE


def test_host_cpu_counts_every_busy_state() -> None:
    text = "cpu  100 5 50 9000 40 1 2 3 7 0\ncpu0 50 2 25 4500 20 0 1 1 3 0\n"
    assert stats.host_cpu_ns(text) == stats.ticks_to_ns(100 + 5 + 50 + 1 + 2 + 3,
                                                        stats.CLOCK_TICKS)
    assert stats.host_cpu_ns("intr 1 2 3\n") == 0


def test_host_memory_working_set_as_kubelet_reads_it() -> None:
    text = ("MemTotal:       16000 kB\nMemFree:         4000 kB\nMemAvailable:    9000 kB\n"
            "Inactive(file):  3000 kB\nHugePages_Total:   0\n")
    assert stats.host_memory(text) == {"usageBytes": 12000 * 1024,
                                       "availableBytes": 9000 * 1024,
                                       "workingSetBytes": 9000 * 1024}


def test_cgroup_reading(tmp_path: Path) -> None:
    (tmp_path / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (tmp_path / "memory.current").write_text("10485760\n")
    (tmp_path / "memory.stat").write_text("anon 6291456\nfile 4194304\n"
                                          "inactive_file 1048576\n")
    reading = stats.cgroup_reading(str(tmp_path))
    assert reading == stats.Reading(2_500_000_000, 9 * 2**20, 6 * 2**20)
    assert stats.cgroup_reading(str(tmp_path / "gone")) is None
