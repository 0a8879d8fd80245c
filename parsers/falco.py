"""Falco alerts as JSON lines (``json_output: true``): rule, priority, time, tags, the rendered
``output`` and the ``output_fields`` (``proc.cmdline``, ``proc.pid``, ``proc.ppid``,
``container.id``, ``k8s.pod.name``, ``fd.sip``, ``fd.sport`` ...).

Fills ``falco_alerts``: one row per alert with the process and connection it names, so an alert
from the built-in miner or reverse-shell rules joins the audit trail on host and pid. The
``falco_alert`` detection turns them into findings under their own rule names.
"""

from __future__ import annotations

import json

from forensics.context import ParseContext, sql_string
from forensics.host.lines import open_lines
from forensics.registry import Parser, Sniff, register

KEYS = ("rule", "priority", "output")


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines[:20]
    if not lines:
        return 0.0
    hits = 0
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and all(k in record for k in KEYS) and (
                "output_fields" in record or "time" in record):
            hits += 1
    if not hits:
        return 0.0
    return 0.95 if hits / len(lines) >= 0.5 else 0.6


def _field(name: str) -> str:
    return f"""json_extract_string(j, '$.output_fields."{name}"')"""


def parse(ctx: ParseContext) -> None:
    host = sql_string(ctx.hints.host) if ctx.hints.host else "NULL"
    with open_lines(ctx) as lines:
        ctx.warn_many(f"""
            SELECT 'line:' || line_no AS locator,
                   CASE WHEN NOT json_valid(line) THEN 'not a JSON object (cut line?)'
                        ELSE 'JSON object without a Falco rule and time' END AS reason,
                   line AS excerpt
            FROM {lines.sql}
            WHERE nullif(trim(line), '') IS NOT NULL
              AND (NOT json_valid(line) OR json_extract_string(line, '$.rule') IS NULL
                   OR TRY_CAST(json_extract_string(line, '$.time') AS TIMESTAMPTZ) IS NULL)
        """)
        ctx.insert("falco_alerts", f"""
            WITH a AS (
                SELECT line_no, line::JSON AS j FROM {lines.sql}
                WHERE nullif(trim(line), '') IS NOT NULL AND json_valid(line)
                  AND json_extract_string(line, '$.rule') IS NOT NULL
            ), f AS (
                SELECT line_no, j,
                       TRY_CAST(j->>'$.time' AS TIMESTAMPTZ) AS ts,
                       {_field('fd.name')} AS fd_name,
                       coalesce({_field('fd.rip')}, {_field('fd.sip')}) AS rip,
                       coalesce({_field('fd.rport')}, {_field('fd.sport')}) AS rport,
                       coalesce({_field('fd.lip')}, {_field('fd.cip')}) AS lip,
                       coalesce({_field('fd.lport')}, {_field('fd.cport')}) AS lport
                FROM a
            )
            SELECT ts, j->>'$.time' AS ts_raw,
                   coalesce(nullif(j->>'$.hostname', ''), {host}) AS host,
                   j->>'$.rule' AS rule, j->>'$.priority' AS priority,
                   CASE lower(j->>'$.priority')
                       WHEN 'emergency' THEN 'critical' WHEN 'alert' THEN 'critical' WHEN 'critical' THEN 'critical'
                       WHEN 'error' THEN 'high' WHEN 'warning' THEN 'medium' WHEN 'notice' THEN 'low'
                       ELSE 'info' END AS severity,
                   j->>'$.source' AS alert_source,
                   CASE WHEN json_type(j, '$.tags') = 'ARRAY' THEN json_extract_string(j, '$.tags[*]') END AS tags,
                   j->>'$.output' AS output,
                   TRY_CAST({_field('proc.pid')} AS BIGINT) AS pid,
                   TRY_CAST({_field('proc.ppid')} AS BIGINT) AS ppid,
                   TRY_CAST({_field('proc.vpid')} AS BIGINT) AS ns_pid,
                   {_field('proc.name')} AS proc_name,
                   coalesce({_field('proc.exepath')}, {_field('proc.exe')}) AS exe,
                   {_field('proc.cmdline')} AS cmdline,
                   {_field('proc.pname')} AS parent_name,
                   {_field('user.name')} AS user_name,
                   nullif(container_id_norm({_field('container.id')}), 'host') AS container_id,
                   {_field('container.name')} AS container_name,
                   coalesce({_field('container.image.repository')}, {_field('container.image')}) AS image,
                   {_field('k8s.pod.name')} AS pod,
                   {_field('k8s.ns.name')} AS k8s_namespace,
                   fd_name,
                   coalesce(rip, nullif(regexp_extract(fd_name, '->\\[?([0-9A-Fa-f:.]+?)\\]?:(\\d+)$', 1), '')) AS remote_ip,
                   TRY_CAST(coalesce(rport, nullif(regexp_extract(fd_name, ':(\\d+)$', 1), '')) AS INTEGER) AS remote_port,
                   coalesce(lip, nullif(regexp_extract(fd_name, '^\\[?([0-9A-Fa-f:.]+?)\\]?:\\d+->', 1), '')) AS local_ip,
                   TRY_CAST(coalesce(lport, nullif(regexp_extract(fd_name, ':(\\d+)->', 1), '')) AS INTEGER) AS local_port,
                   'line:' || line_no AS locator,
                   j->'$.output_fields' AS output_fields
            FROM f
            WHERE ts IS NOT NULL
        """)


register(Parser(
    name="falco",
    description="Falco alerts as JSON lines: rule, priority, process and connection output fields",
    tables=("falco_alerts",),
    sniff=sniff,
    parse=parse,
    extensions=(".json", ".jsonl"),
))
