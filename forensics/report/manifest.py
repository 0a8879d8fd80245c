"""The report manifest: what the report was made from, so that anyone can check and remake it.

It lists every input file with its SHA-256 (from the evidence registry), every query file with
its SHA-256, the tool version, the ingest runs' commands and parameters, and the report's own
parameters. Nothing in it depends on when or where the report was made unless a time is asked
for (``generated_at``), so the same case gives the same manifest.
"""

from __future__ import annotations

import json
import os
from typing import Any

import duckdb

from .. import __version__, queryfiles
from .sections import Section, SkippedSection
from .values import plain

TOOL_NAME = "cluster-forensics"


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    try:
        result = con.execute(sql)
    except duckdb.Error:
        return []  # an older case without this table or column
    names = [d[0] for d in result.description]
    return [{k: plain(v) for k, v in zip(names, row)} for row in result.fetchall()]


def build_manifest(con: duckdb.DuckDBPyConnection, case_path: str, params: dict[str, Any], max_rows: int | None,
                   generated_at: str | None, sections: list[Section],
                   skipped: list[SkippedSection]) -> dict[str, Any]:
    created = _rows(con, "SELECT value FROM case_meta WHERE key = 'created_with' ORDER BY value LIMIT 1")
    runs = _rows(con, "SELECT run_id, tool_version, command, parameters, status, n_new_evidence FROM runs "
                      "ORDER BY run_id")
    for run in runs:
        for key in ("command", "parameters"):
            if isinstance(run.get(key), str):
                try:
                    run[key] = json.loads(run[key])
                except ValueError:
                    pass
    evidence = _rows(con, """
        SELECT evidence_id, parent_id, path, member, sha256, size, compression, status, format, parser,
               parser_version, tool_version, host_hint, tz_hint, n_records, n_warnings
        FROM evidence ORDER BY evidence_id""")
    detectors = _rows(con, "SELECT detector, count(*) AS findings FROM findings GROUP BY detector ORDER BY detector")
    return {
        "tool": {"name": TOOL_NAME, "version": __version__},
        "generated_at": generated_at,
        "case": {
            "file": os.path.basename(case_path),
            "created_with": created[0]["value"] if created else None,
        },
        "parameters": {"report": {k: plain(v) for k, v in sorted(params.items())}, "max_rows": max_rows},
        "sections": [
            {"name": s.name, "sql_file": s.sql_file, "sha256": s.query.sha256, "params": plain(s.params),
             "rows": s.row_count, "rows_shown": len(s.rows)}
            for s in sections
        ],
        "skipped_sections": [{"name": s.name, "reason": s.reason} for s in skipped],
        "queries": [{"name": q.name, "sha256": q.sha256} for q in queryfiles.discover()],
        "detectors": detectors,
        "ingest_runs": runs,
        "evidence": evidence,
    }
