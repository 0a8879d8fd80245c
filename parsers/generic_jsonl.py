"""The generic agent-step JSON-lines shape for in-house RL frameworks (documented in README.md,
"Agent trajectories"): one object per step,

    {"trajectory_id": "t-1", "step": 3, "command": "ls -la", "ts": "2026-02-17T02:13:05Z",
     "run_id": "rl-run-0217", "tool": "bash", "output": "...", "exit_code": 0,
     "sandbox_id": "sbx-1", "sandbox_ip": "10.244.1.7", "host": "gpu-node-01"}

``trajectory_id``, ``step`` and ``command`` (or ``tool`` with ``arguments``) are required; every
other field is optional. The file is read by DuckDB in bounded batches."""

from __future__ import annotations

import json

from forensics.agent import analyse
from forensics.agent.jsonl import INVALID, collect_invalid, run_batches
from forensics.agent.steps import ARGUMENTS_LIMIT, EXEC_TOOLS, OUTPUT_EXCERPT
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "generic_jsonl"


def sniff(s: Sniff) -> float:
    try:
        obj = json.loads(s.first_nonblank_lines[0]) if s.first_nonblank_lines else None
    except ValueError:
        return 0.0
    if isinstance(obj, dict) and "trajectory_id" in obj and "step" in obj and ("command" in obj or "tool" in obj) \
            and "messages" not in obj:
        return 0.9
    return 0.0


_V = "VARCHAR"
STEP_SCHEMA = json.dumps({key: _V for key in (
    "run_id", "trajectory_id", "step", "call_index", "ts", "timestamp", "ts_end", "sandbox_id", "sandbox",
    "sandbox_ip", "container_id", "host", "role", "command", "tool", "action", "arguments", "output",
    "exit_code", "reward", "global_step", "model")})


def parse(ctx: ParseContext) -> None:
    exec_tools = ", ".join("'" + t + "'" for t in sorted(EXEC_TOOLS))

    def per_batch(table: str) -> None:
        # one typed parse per line; the (flat) parsed rows are kept for the inserts and the warnings
        ctx.con.execute(f"""CREATE OR REPLACE TEMP TABLE _generic_steps AS
            SELECT line_no, try(from_json(line, '{STEP_SCHEMA}')) AS j FROM {table} WHERE starts_with(line, '{{')""").fetchall()
        try:
            ctx.insert("agent_steps", f"""
                SELECT '{NAME}' AS source_format, j.run_id AS run_id, j.trajectory_id AS trajectory_id,
                       TRY_CAST(j.step AS INTEGER) AS step, coalesce(TRY_CAST(j.call_index AS INTEGER), 0) AS call_index,
                       agent_ts(coalesce(j.ts, j.timestamp), $tz) AS ts,
                       agent_ts(j.ts_end, $tz) AS ts_end, coalesce(j.ts, j.timestamp) AS ts_raw,
                       agent_ts_basis(coalesce(j.ts, j.timestamp)) AS ts_basis,
                       CASE WHEN agent_ts_basis(coalesce(j.ts, j.timestamp)) = 'local_assumed'
                            THEN coalesce($tz, 'UTC') END AS tz_assumed,
                       coalesce(j.sandbox_id, j.sandbox) AS sandbox, j.sandbox_ip AS sandbox_ip,
                       j.container_id AS container_id, coalesce(j.host, $host) AS host,
                       coalesce(j.role, 'assistant') AS role,
                       CASE WHEN j.command IS NOT NULL OR lower(j.tool) IN ({exec_tools}) THEN 'exec'
                            ELSE coalesce(j.action, 'tool') END AS action,
                       j.tool AS tool,
                       coalesce(j.command, CASE WHEN starts_with(ltrim(j.arguments), '{{') THEN
                           coalesce(try(json_extract_string(j.arguments, '$.command')),
                                    try(json_extract_string(j.arguments, '$.cmd'))) END) AS command,
                       left(j.arguments, {ARGUMENTS_LIMIT}) AS arguments,
                       left(j.output, {OUTPUT_EXCERPT}) AS output_excerpt, sha256(j.output) AS output_sha256,
                       octet_length(encode(j.output)) AS output_bytes, TRY_CAST(j.exit_code AS INTEGER) AS exit_code,
                       TRY_CAST(j.reward AS DOUBLE) AS reward, TRY_CAST(j.global_step AS INTEGER) AS global_step,
                       j.model AS model, 'line:' || line_no AS locator
                FROM _generic_steps
                WHERE j.trajectory_id IS NOT NULL
            """, params={"tz": ctx.hints.timezone, "host": ctx.hints.host})
            collect_invalid(ctx, table, "line_no IN (SELECT line_no FROM _generic_steps WHERE j IS NOT NULL)")
            ctx.con.execute(f"""INSERT INTO {INVALID}
                SELECT 'line:' || s.line_no, 'step line without trajectory_id', left(l.line, 200)
                FROM _generic_steps s JOIN {table} l USING (line_no)
                WHERE s.j IS NOT NULL AND s.j.trajectory_id IS NULL""").fetchall()
        finally:
            ctx.con.execute("DROP TABLE IF EXISTS _generic_steps").fetchall()

    run_batches(ctx, per_batch)
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="Generic agent-step JSON lines (one step per line: trajectory_id, step, command, ts, ...)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".jsonl",),
))
