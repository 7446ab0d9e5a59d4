"""Helm-shaped output: release summaries, tables."""

from __future__ import annotations

import datetime as dt
from typing import Any


def when(stamp: str | None) -> str:
    if not stamp:
        return ""
    try:
        parsed = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    return parsed.astimezone().strftime("%a %b %d %H:%M:%S %Y")


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["\t".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for row in rows:
        lines.append("\t".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
    return "\n".join(lines)


def chart_label(release: dict[str, Any]) -> str:
    return f"{release.get('chart_name', '')}-{release.get('chart_version', '')}"


def summary(release: dict[str, Any], notes: bool = True) -> str:
    lines = [
        f"NAME: {release['name']}",
        f"LAST DEPLOYED: {when(release.get('deployed_at'))}",
        f"NAMESPACE: {release.get('namespace', '')}",
        f"STATUS: {release.get('status', '')}",
        f"REVISION: {release.get('revision', '')}",
        "TEST SUITE: None",
    ]
    if notes and release.get("notes"):
        lines += ["NOTES:", release["notes"].rstrip()]
    return "\n".join(lines)


def releases_table(items: list[dict[str, Any]]) -> str:
    rows = [[r["name"], r.get("namespace", ""), str(r.get("revision", "")),
             when(r.get("deployed_at")), r.get("status", ""), chart_label(r),
             str(r.get("app_version", ""))] for r in items]
    return table(["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART",
                  "APP VERSION"], rows)


def history_table(items: list[dict[str, Any]], descriptions: dict[int, str]) -> str:
    rows = [[str(r["revision"]), when(r.get("deployed_at")), r.get("status", ""),
             chart_label(r), str(r.get("app_version", "")),
             descriptions.get(int(r["revision"]), "")] for r in items]
    return table(["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"], rows)
