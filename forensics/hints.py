"""Host, time-zone and year hints for evidence files whose records do not say.

RFC 3164 syslog has no year and no zone, nvidia-smi writes local time, dcgmi writes no time at all,
and a kern.log line names its host but a pcap does not. Hints come from, strongest first:

1. the command line (``--host``, ``--tz``, ``--year``);
2. the inventory's ``evidence`` entries (path globs relative to the inventory file);
3. a path component that names an inventory host (``nodes/gpu-node-03/kern.log``), whose
   inventory time zone then applies;
4. the inventory's defaults (``timezone``, ``year``).

Parsers record when they used a hint (``ts_inferred``) so a reader knows the time is inferred.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass, field

import duckdb

from .context import Hints


@dataclass
class HintSource:
    hosts: dict[str, dict] = field(default_factory=dict)  # host -> attributes
    evidence_rules: list[dict] = field(default_factory=list)
    default_timezone: str | None = None
    default_year: int | None = None

    @classmethod
    def from_case(cls, con: duckdb.DuckDBPyConnection) -> "HintSource":
        source = cls()
        rows = con.execute(
            "SELECT kind, value, host, attributes FROM entities "
            "WHERE kind IN ('host', 'evidence_hint', 'default_timezone', 'default_year') "
            "ORDER BY evidence_id, locator"
        ).fetchall()
        for kind, value, _host, attributes in rows:
            attrs = json.loads(attributes) if attributes else {}
            if kind == "host":
                source.hosts.setdefault(value, {}).update(attrs)
            elif kind == "evidence_hint":
                source.evidence_rules.append(attrs)
            elif kind == "default_timezone":
                source.default_timezone = value
            elif kind == "default_year":
                try:
                    source.default_year = int(value)
                except ValueError:
                    pass
        return source

    def host_from_path(self, path: str) -> str | None:
        """The inventory host named by a folder or at the start of the file name."""
        if not self.hosts:
            return None
        parts = os.path.normpath(path).split(os.sep)
        for part in reversed(parts[:-1]):
            if part in self.hosts:
                return part
        name = parts[-1]
        matches = [h for h in self.hosts
                   if name == h or re.match(re.escape(h) + r"(?![A-Za-z0-9])", name)]
        return max(matches, key=len) if matches else None

    def resolve(self, path: str, cli: Hints) -> Hints:
        hints = Hints(host=cli.host, timezone=cli.timezone, year=cli.year,
                      hint_sources={k: "cli" for k, v in
                                    (("host", cli.host), ("timezone", cli.timezone), ("year", cli.year)) if v})
        absolute = os.path.abspath(path)
        for rule in self.evidence_rules:
            base = rule.get("base") or ""
            relative = os.path.relpath(absolute, base) if base else absolute
            pattern = rule.get("path", "")
            if not pattern or not (fnmatch.fnmatchcase(relative, pattern)
                                   or fnmatch.fnmatchcase(relative, pattern.rstrip("/*") + "/*")):
                continue
            for key in ("host", "timezone", "year"):
                if getattr(hints, key) is None and rule.get(key) is not None:
                    setattr(hints, key, int(rule[key]) if key == "year" else rule[key])
                    hints.hint_sources[key] = f"inventory evidence rule {pattern}"
        if hints.host is None:
            host = self.host_from_path(path)
            if host:
                hints.host = host
                hints.hint_sources["host"] = "path"
        if hints.timezone is None and hints.host and self.hosts.get(hints.host, {}).get("timezone"):
            hints.timezone = self.hosts[hints.host]["timezone"]
            hints.hint_sources["timezone"] = f"inventory host {hints.host}"
        if hints.timezone is None and self.default_timezone:
            hints.timezone = self.default_timezone
            hints.hint_sources["timezone"] = "inventory default"
        if hints.year is None and self.default_year:
            hints.year = self.default_year
            hints.hint_sources["year"] = "inventory default"
        return hints
