"""GPU device bookkeeping: the `daskhub-lite.io/gpu-devices` annotation and per-device free shares.

A node's free state is *derived* from the pods bound to it (their annotations), never stored
on its own, so a restart rebuilds exactly what is in use and cannot leak GPUs. The functions
here are pure: they take a list of free milli per device and return choices or new lists.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from .names import MILLI_PER_GPU

# ((device index, milli of that device), ...), sorted by index; () for pods without GPUs.
DeviceAssignment = tuple[tuple[int, int], ...]


def parse_device_annotation(text: str) -> DeviceAssignment:
    """`0:1000,1:1000` or `3:460` → ((0, 1000), (1, 1000)); ValueError naming what is wrong."""
    out: dict[int, int] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        index_text, sep, milli_text = part.partition(":")
        try:
            index = int(index_text)
            amount = int(milli_text) if sep else MILLI_PER_GPU
        except ValueError:
            raise ValueError(f"malformed GPU device entry {part!r} in {text!r}; "
                             "expected INDEX:MILLI like 0:1000 or 3:460") from None
        if index < 0 or not 0 < amount <= MILLI_PER_GPU or index in out:
            raise ValueError(f"invalid GPU device entry {part!r} in {text!r}")
        out[index] = amount
    return tuple(sorted(out.items()))


def format_device_annotation(assignment: DeviceAssignment) -> str:
    return ",".join(f"{index}:{amount}" for index, amount in assignment)


def apply(free: Sequence[int], assignment: DeviceAssignment, sign: int = -1) -> list[int]:
    """Free shares after taking (sign -1) or giving back (sign +1) an assignment."""
    out = list(free)
    for index, amount in assignment:
        if index < len(out):
            out[index] += sign * amount
    return out


def fits(free: Sequence[int], count: int, milli: int) -> bool:
    """Can `count` devices each give `milli`? Whole GPUs need wholly free devices."""
    if count == 0:
        return True
    return sum(1 for f in free if f >= milli) >= count


def whole_devices(free: Sequence[int], count: int) -> DeviceAssignment | None:
    """The lowest-indexed `count` wholly free devices (all free ones are interchangeable)."""
    chosen = [i for i, f in enumerate(free) if f >= MILLI_PER_GPU][:count]
    if len(chosen) < count:
        return None
    return tuple((i, MILLI_PER_GPU) for i in chosen)


def shared_options(free: Sequence[int], milli: int) -> list[int]:
    """Distinct free shares a `milli` request could go into: devices with equal free share are
    interchangeable, so one option per value is enough to compare them."""
    return sorted({f for f in free if f >= milli})


def shared_device(free: Sequence[int], milli: int, target_free: int) -> DeviceAssignment:
    """The lowest-indexed device whose free share is `target_free`."""
    for index, f in enumerate(free):
        if f == target_free and f >= milli:
            return ((index, milli),)
    raise ValueError(f"no device with {target_free} milli free for a {milli} milli request")


def assignment_for(free: Sequence[int], count: int, milli: int,
                   target_free: int | None) -> DeviceAssignment | None:
    """Resolve a choice made on an equivalent node (`target_free` for shares) to this node."""
    if count == 0:
        return ()
    if count == 1 and milli < MILLI_PER_GPU:
        if target_free is None:
            options = shared_options(free, milli)
            if not options:
                return None
            target_free = options[0]
        return shared_device(free, milli, target_free)
    return whole_devices(free, count)


def derive_free(device_count: int, assignments: Iterable[DeviceAssignment]) -> list[int]:
    """Per-device free shares from the bound pods' assignments (may go negative if the bound
    pods themselves over-commit a device; such a device is simply full)."""
    free = [MILLI_PER_GPU] * device_count
    for assignment in assignments:
        free = apply(free, assignment)
    return free
