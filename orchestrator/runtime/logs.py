"""Reading container logs in the CRI format the shim writes, with the `pods/log` options:
`tailLines`, `sinceSeconds`/`sinceTime`, `timestamps`, `limitBytes` and `follow`."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import AsyncIterator, BinaryIO, Callable, Mapping

_FOLLOW_POLL = 0.2


@dataclass
class Record:
    timestamp: str
    stream: str
    partial: bool
    data: bytes


@dataclass
class LogOptions:
    tail_lines: int | None = None
    since: datetime | None = None
    timestamps: bool = False
    follow: bool = False
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: datetime | None = None
                   ) -> "LogOptions":
        def flag(name: str) -> bool:
            return query.get(name, "").lower() in ("true", "1")

        def integer(name: str) -> int | None:
            raw = query.get(name)
            return int(raw) if raw not in (None, "") and raw.lstrip("-").isdigit() else None

        since = None
        seconds = integer("sinceSeconds")
        if seconds is not None:
            moment = (now or datetime.now(timezone.utc)).timestamp() - seconds
            since = datetime.fromtimestamp(moment, timezone.utc)
        elif query.get("sinceTime"):
            since = parse_ts(query["sinceTime"])
        tail = integer("tailLines")
        return cls(tail_lines=tail if tail is None or tail >= 0 else None, since=since,
                   timestamps=flag("timestamps"), follow=flag("follow"),
                   limit_bytes=integer("limitBytes"))


def parse_ts(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    text = text.rstrip("Z")
    if "." in text:
        whole, frac = text.split(".", 1)
        text = f"{whole}.{frac[:6]}"
        fmt = "%Y-%m-%dT%H:%M:%S.%f"
    else:
        fmt = "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)


def parse_line(line: bytes) -> Record | None:
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    data = parts[3] if len(parts) == 4 else b""
    return Record(parts[0].decode(), parts[1].decode(), parts[2] == b"P", data)


def render(records: list[Record], options: LogOptions, at_line_start: bool = True
           ) -> tuple[bytes, bool]:
    """Bytes for `records`; returns whether the output ends at a line boundary."""
    out = bytearray()
    for r in records:
        if options.since is not None and parse_ts(r.timestamp) < options.since:
            continue
        if options.timestamps and at_line_start:
            out += r.timestamp.encode() + b" "
        out += r.data
        if not r.partial:
            out += b"\n"
        at_line_start = not r.partial
    return bytes(out), at_line_start


def tail(records: list[Record], lines: int) -> list[Record]:
    """The records making up the last `lines` full lines."""
    if lines == 0:
        return []
    seen = 0
    for i in range(len(records) - 1, -1, -1):
        if not records[i].partial:
            seen += 1
            if seen > lines:
                return records[i + 1:]
    return records


def _split_complete(buffer: bytes) -> tuple[list[bytes], bytes]:
    *lines, rest = buffer.split(b"\n")
    return lines, rest


async def stream_log(path: Path, options: LogOptions, running: Callable[[], bool]
                     ) -> AsyncIterator[bytes]:
    """The log's content, then (with follow) new lines until the instance has ended."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    lines, rest = _split_complete(data)
    offset = len(data) - len(rest)
    records = [r for r in (parse_line(line) for line in lines) if r is not None]
    if options.tail_lines is not None:
        records = tail(records, options.tail_lines)
    sent = 0
    chunk, at_start = render(records, options)
    if options.limit_bytes is not None:
        chunk = chunk[:options.limit_bytes]
    sent += len(chunk)
    if chunk:
        yield chunk
    if not options.follow:
        return
    pending = b""
    follower = _Follower(path, offset)
    try:
        while True:
            if options.limit_bytes is not None and sent >= options.limit_bytes:
                return
            alive = running()
            new = follower.read()
            lines, pending = _split_complete(pending + new)
            records = [r for r in (parse_line(line) for line in lines) if r is not None]
            if records:
                chunk, at_start = render(records, options, at_start)
                if options.limit_bytes is not None:
                    chunk = chunk[:options.limit_bytes - sent]
                sent += len(chunk)
                yield chunk
            if not alive and not new:
                return
            await asyncio.sleep(_FOLLOW_POLL)
    finally:
        follower.close()


class _Follower:
    """Reads what is appended to a log, across rotations: when the path names a new file
    (the shim rotated it), the rest of the old one is read, then the new one from its
    start, as kubelet's follow does."""

    def __init__(self, path: Path, offset: int) -> None:
        self.path = path
        self.fh: BinaryIO | None = None
        try:
            self.fh = open(path, "rb")
            self.fh.seek(offset)
        except FileNotFoundError:
            pass

    def _rotated(self) -> bool:
        try:
            current = os.stat(self.path)
        except FileNotFoundError:
            return False
        if self.fh is None:
            return True
        mine = os.fstat(self.fh.fileno())
        return (mine.st_ino, mine.st_dev) != (current.st_ino, current.st_dev)

    def read(self) -> bytes:
        new = self.fh.read() if self.fh is not None else b""
        if self._rotated():
            if self.fh is not None:
                new += self.fh.read()
                self.fh.close()
            try:
                self.fh = open(self.path, "rb")
                new += self.fh.read()
            except FileNotFoundError:
                self.fh = None
        return new

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None
