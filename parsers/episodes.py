"""Episodes manifest: which sandbox, address and host each trajectory ran on, and when. Firewalls
see IPs, not trajectories; this gives the time-bounded trajectory → sandbox → IP → host lease.

JSON lines ``{"kind": "episode", "trajectory_id", "sandbox_id", "sandbox_ip", "host", "start",
"end", "run_id", "container_id"}`` or CSV with those column names (``kind`` optional in CSV, but
the header must name ``trajectory_id`` and ``sandbox_ip``)."""

from __future__ import annotations

import json

from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "episodes"


def sniff(s: Sniff) -> float:
    first = s.first_nonblank_lines[0] if s.first_nonblank_lines else ""
    if first.startswith("{"):
        try:
            obj = json.loads(first)
        except ValueError:
            return 0.0
        return 0.95 if isinstance(obj, dict) and obj.get("kind") == "episode" else 0.0
    header = [h.strip().lower() for h in first.split(",")]
    return 0.9 if "trajectory_id" in header and "sandbox_ip" in header and ("start" in header or "host" in header) else 0.0


def parse(ctx: ParseContext) -> None:
    first = ctx.open().readline().lstrip()
    if first.startswith(b"{"):
        source = (f"(SELECT row_number() OVER () AS n, * FROM read_json({ctx.sql_path}, format='newline_delimited', "
                  "columns={'kind': 'VARCHAR', 'trajectory_id': 'VARCHAR', 'sandbox_id': 'VARCHAR', "
                  "'sandbox_ip': 'VARCHAR', 'host': 'VARCHAR', 'start': 'VARCHAR', 'end': 'VARCHAR', "
                  "'run_id': 'VARCHAR', 'container_id': 'VARCHAR'}, ignore_errors=true))")
        locator = "'line:' || n"
    else:
        source = (f"(SELECT row_number() OVER () AS n, * FROM read_csv({ctx.sql_path}, header=true, all_varchar=true, "
                  "union_by_name=true))")
        locator = "'row:' || n"
    ctx.con.execute(f"CREATE OR REPLACE TEMP TABLE _episodes AS SELECT * FROM {source}")
    try:
        cols = {r[0] for r in ctx.con.execute("DESCRIBE _episodes").fetchall()}
        col = lambda name: f'"{name}"' if name in cols else "NULL"  # noqa: E731
        start = f"agent_ts({col('start')}, $tz)"
        end = f"agent_ts({col('end')}, $tz)"
        ctx.warn_many(f"SELECT {locator} AS locator, 'episode without trajectory_id' AS reason, NULL AS excerpt "
                      f"FROM _episodes WHERE {col('trajectory_id')} IS NULL")
        ctx.insert("entities", f"""
            SELECT 'trajectory' AS kind, {col('trajectory_id')} AS value, {col('host')} AS host, {col('run_id')} AS job,
                   {col('sandbox_id')} AS sandbox, {start} AS valid_from, {end} AS valid_to,
                   json_object('sandbox_ip', {col('sandbox_ip')}, 'container_id', {col('container_id')}) AS attributes,
                   '{NAME}' AS source, {locator} AS locator FROM _episodes WHERE {col('trajectory_id')} IS NOT NULL
            UNION ALL
            SELECT 'ip', {col('sandbox_ip')}, {col('host')}, {col('run_id')}, {col('sandbox_id')}, {start}, {end},
                   json_object('lease', 'episode', 'trajectory', {col('trajectory_id')}), '{NAME}', {locator}
            FROM _episodes WHERE {col('sandbox_ip')} IS NOT NULL
            UNION ALL
            SELECT 'sandbox', {col('sandbox_id')}, {col('host')}, {col('run_id')}, {col('sandbox_id')}, {start}, {end},
                   NULL, '{NAME}', {locator} FROM _episodes WHERE {col('sandbox_id')} IS NOT NULL
        """, params={"tz": ctx.hints.timezone})
    finally:
        ctx.con.execute("DROP TABLE IF EXISTS _episodes")


register(Parser(
    name=NAME, description="Episodes manifest (trajectory → sandbox, IP, host, start, end) as JSON lines or CSV",
    tables=("entities",), sniff=sniff, parse=parse, extensions=(".jsonl", ".csv"),
))
