"""The loopback address ranges of one control plane, so several planes share one host.

In loopback mode pod IPs and Service cluster IPs are addresses of 127.0.0.0/8, which every
process of the host shares: two planes drawing from the same ranges would both try to bind
127.96.0.1 (the `kubernetes` Service) and could hand the same pod IP out twice. So each
plane holds a *slot*: slot k owns the pod range 127.(244+k).0.0/16 and the service range
127.(96+k).0.0/16 (together 127.96.0.0/12 for services, as kubeadm's 10.96.0.0/12). Slot 0
is the ranges a single plane always had, so one plane alone behaves as before.

A slot is held with an exclusive `flock` on `slot-<k>.lock` in a host-wide registry dir
(`/tmp/daskhub-lite-ranges`, sticky and world-writable so planes of different users see
each other), for the plane's whole life: the kernel drops it with the process (kill -9
included), so a crashed plane never keeps its slot. The slot taken is recorded in the data
dir (`network-ranges.json`) and a restart takes the same one, since stored Services and pods
keep their addresses; when another plane now holds it the plane refuses to start rather
than renumber them. Importable without loading the server.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.datadir import prepare

REGISTRY_DIR = Path("/tmp/daskhub-lite-ranges")
RECORD_NAME = "network-ranges.json"
# 127.244/16 .. 127.254/16 for pods (127.255/16 holds 127/8's broadcast address, kept out).
SLOTS = 11
_POD_SECOND_OCTET = 244
_SERVICE_SECOND_OCTET = 96


class RangesError(RuntimeError):
    """No ranges could be taken for this plane (one line, for the CLI)."""


@dataclass(frozen=True)
class PlaneRanges:
    """The pod and service ranges of one slot, and the well-known addresses in them."""

    slot: int
    pod_cidr: ipaddress.IPv4Network
    service_cidr: ipaddress.IPv4Network

    @property
    def kubernetes_ip(self) -> str:
        """The `kubernetes` Service's cluster IP: the service range's first host."""
        return str(self.service_cidr.network_address + 1)

    @property
    def dns_ip(self) -> str:
        """The cluster DNS Service's address, .0.10 as kubeadm picks it."""
        return str(self.service_cidr.network_address + 10)

    @property
    def pod_probe_ip(self) -> str:
        """The pod range's first host, kept back to probe that the platform binds it."""
        return str(self.pod_cidr.network_address + 1)

    def describe(self) -> str:
        return f"pods {self.pod_cidr}, services {self.service_cidr}"


def ranges_of(slot: int) -> PlaneRanges:
    if not 0 <= slot < SLOTS:
        raise RangesError(f"network range slot {slot} is out of range (0..{SLOTS - 1})")
    return PlaneRanges(
        slot=slot,
        pod_cidr=ipaddress.IPv4Network(f"127.{_POD_SECOND_OCTET + slot}.0.0/16"),
        service_cidr=ipaddress.IPv4Network(f"127.{_SERVICE_SECOND_OCTET + slot}.0.0/16"))


DEFAULT_RANGES = ranges_of(0)


def candidate_slots(recorded: int | None) -> list[int]:
    """The slots a plane may take, in the order to try them: only its recorded slot when it
    has one (its stored objects use those addresses), else every slot, lowest first."""
    return [recorded] if recorded is not None else list(range(SLOTS))


def pick_slot(recorded: int | None, held: set[int]) -> int:
    """The slot to take given the slots other planes hold, or RangesError saying why none."""
    for slot in candidate_slots(recorded):
        if slot not in held:
            return slot
    if recorded is not None:
        found = ranges_of(recorded)
        raise RangesError(
            f"the network ranges recorded in this data dir ({found.describe()}) are held "
            "by another control plane on this host: stop it first or use another data dir")
    raise RangesError(f"all {SLOTS} network range slots of this host are held by other "
                      f"control planes (registry {REGISTRY_DIR}): stop one first")


def parse_record(text: str, path: Path) -> int:
    """The slot a data dir's record names; RangesError for a record that is not ours."""
    try:
        data = json.loads(text)
        slot = data["slot"]
        if not isinstance(slot, int) or isinstance(slot, bool):
            raise TypeError
        expected = ranges_of(slot)
    except (ValueError, KeyError, TypeError, RangesError):
        raise RangesError(f"{path} is not a network-ranges record (want "
                          '{"slot": N, ...}); fix or remove it') from None
    if (data.get("podCIDR", str(expected.pod_cidr)) != str(expected.pod_cidr)
            or data.get("serviceCIDR", str(expected.service_cidr))
            != str(expected.service_cidr)):
        raise RangesError(f"{path} names ranges slot {slot} does not have; fix or remove it")
    return slot


class RangeLease:
    """The flock on one slot of the host registry, held from `acquire` to `release`."""

    def __init__(self, data_dir: Path, registry_dir: Path | None = None) -> None:
        self.data_dir = data_dir
        self.registry_dir = registry_dir if registry_dir is not None else _registry_dir()
        self.ranges: PlaneRanges | None = None
        # True when other planes held slots that a first start skipped (the CLI says so).
        self.shared_host = False
        self._fd: int | None = None

    def acquire(self) -> PlaneRanges:
        prepare(self.data_dir)
        record = self.data_dir / RECORD_NAME
        recorded = parse_record(record.read_text(), record) if record.exists() else None
        _prepare_registry(self.registry_dir)
        held: set[int] = set()
        for slot in candidate_slots(recorded):
            fd = _try_lock(self.registry_dir / f"slot-{slot}.lock")
            if fd is not None:
                break
            held.add(slot)
        else:
            pick_slot(recorded, held)  # raises, saying why
            raise AssertionError("unreachable")
        self._fd = fd
        self.ranges = ranges_of(slot)
        self.shared_host = bool(held) or self._others_hold(slot)
        if recorded is None:
            _write_record(record, self.ranges)
        return self.ranges

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # the lock file stays, as the data dir's does
            self._fd = None

    def _others_hold(self, own: int) -> bool:
        """Whether some other slot is held right now (a restart on slot 0 while planes run
        on slots 1.. is on a shared host too)."""
        return any(slot != own for slot in held_slots(self.registry_dir))

    def __enter__(self) -> PlaneRanges:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def held_slots(registry_dir: Path | None = None) -> Iterator[int]:
    """The slots live planes hold now (for tools and tests; racy by nature)."""
    directory = registry_dir if registry_dir is not None else _registry_dir()
    for slot in range(SLOTS):
        path = directory / f"slot-{slot}.lock"
        if not path.exists():
            continue
        fd = _try_lock(path, create=False)
        if fd is None:
            yield slot
        else:
            os.close(fd)


def _registry_dir() -> Path:
    # An override lets a test give its planes a private registry; planes that should see
    # each other must share one.
    return Path(os.environ.get("DASKHUB_LITE_RANGES_DIR") or REGISTRY_DIR)


def _prepare_registry(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o1777, parents=True, exist_ok=True)
        info = directory.stat()
        if info.st_uid == os.getuid() and (info.st_mode & 0o7777) != 0o1777:
            os.chmod(directory, 0o1777)  # mkdir's mode passes through the umask
    except OSError as exc:
        raise RangesError(f"cannot use the network range registry {directory}: "
                          f"{exc.strerror or exc}") from None


def _try_lock(path: Path, create: bool = True) -> int | None:
    """An fd holding an exclusive flock on `path`, or None when a live process holds it.
    Opened read-only when it exists: another user's 0644 lock file still locks (flock needs
    no write access), and O_CLOEXEC keeps container shims from inheriting it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        if not create:
            return None
        fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def _write_record(path: Path, ranges: PlaneRanges) -> None:
    data = {"slot": ranges.slot, "podCIDR": str(ranges.pod_cidr),
            "serviceCIDR": str(ranges.service_cidr)}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(json.dumps(data) + "\n")
    os.replace(tmp, path)


def recorded_ranges(data_dir: Path) -> PlaneRanges:
    """The ranges a data dir's record names, else the first plane's (no slot is taken)."""
    record = data_dir / RECORD_NAME
    return ranges_of(parse_record(record.read_text(), record)) if record.exists() \
        else DEFAULT_RANGES
