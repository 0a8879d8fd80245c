"""Helpers for job-mapping evidence (Slurm, Kubernetes): host lists and GPU index lists."""

from __future__ import annotations

import re


def expand_hostlist(text: str) -> list[str]:
    """Slurm host lists: ``gpu-node-[01-03,07],login1`` -> gpu-node-01, -02, -03, -07, login1."""
    hosts: list[str] = []
    for part in re.findall(r"[^,\[]+(?:\[[^\]]*\][^,\[]*)*", text or ""):
        part = part.strip().strip(",")
        if not part or part in ("None", "(null)"):
            continue
        match = re.match(r"^(.*?)\[([^\]]*)\](.*)$", part)
        if not match:
            hosts.append(part)
            continue
        prefix, ranges, suffix = match.groups()
        for item in ranges.split(","):
            if "-" in item:
                low, high = item.split("-", 1)
                width = len(low)
                for number in range(int(low), int(high) + 1):
                    hosts.extend(expand_hostlist(f"{prefix}{number:0{width}d}{suffix}"))
            else:
                hosts.extend(expand_hostlist(f"{prefix}{item}{suffix}"))
    return hosts


def expand_indexes(text: str) -> list[int]:
    """GRES index lists: ``0-3,6`` -> [0, 1, 2, 3, 6]."""
    found: list[int] = []
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        if "-" in item:
            low, high = item.split("-", 1)
            found.extend(range(int(low), int(high) + 1))
        elif item.isdigit():
            found.append(int(item))
    return found


ENTITY_KEYS = ("kind", "value", "host", "job", "sandbox", "valid_from", "valid_to", "attributes", "locator")


def entity_rows(rows: list[dict]) -> list[dict]:
    """Entity dicts with every key present (Arrow takes its columns from the first row)."""
    return [{key: row.get(key) for key in ENTITY_KEYS} for row in rows]
