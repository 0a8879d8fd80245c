"""ROLL worker logs: ``[%Y-%m-%d %H:%M:%S] [file.py (line)] [LEVEL] [...] msg`` in naive local
time. ``[SANDBOX_INIT] … IP: {ip}, sandbox_id: {id}`` lines give the sandbox → IP lease, from
that time on (``valid_to`` open until the next init of the same address)."""

from __future__ import annotations

from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "roll_worker_log"
_LINE = r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] \[[^\]]*\] \[\w+\].*?\[SANDBOX_INIT\].*?IP:\s*([0-9a-fA-F.:]+),\s*sandbox_id:\s*([\w.-]+)"


def sniff(s: Sniff) -> float:
    return 0.9 if "[SANDBOX_INIT]" in s.text and s.text.lstrip().startswith("[20") else 0.0


def parse(ctx: ParseContext) -> None:
    ctx.insert("entities", f"""
        WITH l AS (
            SELECT row_number() OVER () AS n, line FROM read_csv({ctx.sql_path}, columns={{'line': 'VARCHAR'}},
                   delim=chr(1), quote='', escape='', header=false, ignore_errors=true)
        ), m AS (
            SELECT n, regexp_extract(line, $re, ['ts', 'ip', 'sandbox']) AS g FROM l WHERE contains(line, '[SANDBOX_INIT]')
        ), leases AS (
            SELECT n, timezone(coalesce($tz, 'Asia/Shanghai'), TRY_CAST(g.ts AS TIMESTAMP)) AS ts, g.ip, g.sandbox
            FROM m WHERE g.ip <> ''
        )
        SELECT 'ip' AS kind, ip AS value, $host AS host, sandbox, ts AS valid_from,
               lead(ts) OVER (PARTITION BY ip ORDER BY ts) AS valid_to,
               json_object('lease', 'sandbox_init') AS attributes, '{NAME}' AS source, 'line:' || n AS locator
        FROM leases
        UNION ALL
        SELECT 'sandbox', sandbox, $host, sandbox, ts, NULL, json_object('ip', ip), '{NAME}', 'line:' || n FROM leases
    """, params={"re": _LINE, "tz": ctx.hints.timezone, "host": ctx.hints.host})


register(Parser(
    name=NAME, description="ROLL worker logs: [SANDBOX_INIT] sandbox → IP leases",
    tables=("entities",), sniff=sniff, parse=parse, extensions=(".log",),
))
