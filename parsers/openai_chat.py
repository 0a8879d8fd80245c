"""OpenAI chat transcripts and RL rollout dumps in that shape.

Reads JSON lines with one trajectory per line (``messages`` plus metadata such as ``run_id``,
``trajectory_id``, ``sandbox_id``, ``sandbox_ip``, ``container_id``, ``host``, ``global_step``,
``reward``, ``start_time``, ``end_time``), and single JSON documents holding one trajectory or a
bare message list. Assistant ``tool_calls`` (``function.arguments`` is a JSON string) are paired
with their ``role: tool`` results by ``tool_call_id`` (by order when ids are missing); iFlow's
``run_shell_command`` and every other shell tool become the canonical ``exec`` action; raw
Qwen3-Coder ``<function=...><parameter=...>`` XML inside assistant text is read too.

JSON lines go through DuckDB: lines are streamed in bounded batches and the unnesting of messages
and tool calls is SQL, so a million trajectories never pass through Python one message at a time.
"""

from __future__ import annotations

import json
from typing import Any

from forensics.agent import analyse
from forensics.agent.jsonl import run_batches
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import (ARGUMENTS_LIMIT, CONTENT_LIMIT, EDIT_TOOLS, EXEC_KEYS, EXEC_TOOLS,
                                   OUTPUT_EXCERPT, PYTHON_TOOLS, READ_TOOLS, SUBMIT_TOOLS, WRITE_TOOLS,
                                   Step, StepWriter)
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "openai_chat"
MAX_DOCUMENT = 512 * 1024 * 1024


def _looks_like_chat(obj: Any) -> bool:
    if isinstance(obj, dict):
        messages = obj.get("messages") or obj.get("conversation")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and "role" in messages[0]:
            return True
        return False
    if isinstance(obj, list) and obj and all(isinstance(m, dict) for m in obj[:5]):
        return all("role" in m for m in obj[:5]) and any(m.get("role") == "assistant" for m in obj[:50])
    return False


def _anthropic(obj: Any) -> bool:
    messages = obj.get("messages") if isinstance(obj, dict) else obj
    if not isinstance(messages, list):
        return False
    for m in messages[:50]:
        if isinstance(m, dict) and isinstance(m.get("content"), list):
            if any(isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result") for b in m["content"]):
                return True
    return False


def sniff(s: Sniff) -> float:
    text = s.text.lstrip()
    if not text.startswith(("{", "[")) or '"role"' not in text[:65536]:
        return 0.0
    first = s.first_nonblank_lines[0] if s.first_nonblank_lines else ""
    try:
        obj = json.loads(first)
    except ValueError:
        obj = None
    if obj is None:
        # a JSON line longer than the sniff window: judge by its opening
        head = text[:4096]
        if '"messages"' in head and '"role"' in text and ('"assistant"' in text or '"tool_calls"' in text):
            return 0.6
        return 0.0
    if _looks_like_chat(obj) and not _anthropic(obj):
        return 0.8
    return 0.0


# --------------------------------------------------------------------------------- SQL fast path

def _in_list(names: set[str]) -> str:
    return "(" + ", ".join("'" + n.replace("'", "''") + "'" for n in sorted(names)) + ")"


def _first_key(obj: str, keys: tuple[str, ...]) -> str:
    return "coalesce(" + ", ".join(f"{obj}->>'{k}'" for k in keys) + ")"


def batch_sql(table: str, source_format: str) -> str:
    """The SELECT that turns a batch of trajectory lines into agent_steps rows."""
    meta = lambda *keys: "coalesce(" + ", ".join(  # noqa: E731
        [f"j->>'{k}'" for k in keys] + [f"j->'metadata'->>'{k}'" for k in keys]
        + [f"j->'env_info'->>'{k}'" for k in keys]) + ")"
    exec_keys = _first_key("a", EXEC_KEYS)
    name = "lower(c.tool)"
    return f"""
    WITH src AS (
        SELECT line_no, line::JSON AS j FROM {table}
        WHERE CASE WHEN json_valid(line) THEN json_type(line::JSON) = 'OBJECT' ELSE false END
    ), traj AS (
        SELECT line_no,
               coalesce({meta('trajectory_id', 'traj_id', 'episode_id', 'id', 'uuid')}, 'line-' || line_no) AS trajectory_id,
               {meta('run_id', 'run', 'experiment', 'exp_name', 'job_id')} AS run_id,
               {meta('sandbox_id', 'sandbox')} AS sandbox,
               {meta('sandbox_ip', 'ip')} AS sandbox_ip,
               {meta('container_id', 'container')} AS container_id,
               coalesce({meta('host', 'hostname', 'node', 'node_name')}, $host) AS host,
               TRY_CAST({meta('reward', 'score', 'episode_reward')} AS DOUBLE) AS reward,
               TRY_CAST({meta('global_step', 'train_step')} AS INTEGER) AS global_step,
               {meta('model', 'model_name')} AS model,
               {meta('start_time', 'started_at', 'timestamp')} AS start_raw,
               coalesce(j->'messages', j->'conversation', j->'request'->'messages') AS messages
        FROM src
    ), msg AS (
        SELECT * EXCLUDE (messages, m), m AS msg, m->>'role' AS role,
               coalesce(m->>'timestamp', m->>'ts', m->>'created_at', m->>'time', m->'extra'->>'timestamp') AS ts_raw
        FROM (SELECT *, unnest(json_extract(messages, '$[*]')) AS m,
                     generate_subscripts(json_extract(messages, '$[*]'), 1) AS idx
              FROM traj WHERE json_type(messages) = 'ARRAY')
    ), ordered AS (
        SELECT *,
               max(CASE WHEN role = 'assistant' THEN idx END)
                   OVER (PARTITION BY line_no ORDER BY idx ROWS UNBOUNDED PRECEDING) AS prev_assistant,
               CASE WHEN role = 'assistant' THEN
                   count(*) FILTER (WHERE role = 'assistant') OVER (PARTITION BY line_no ORDER BY idx ROWS UNBOUNDED PRECEDING)
               END AS turn
        FROM msg
    ), results AS (
        SELECT line_no, prev_assistant,
               row_number() OVER (PARTITION BY line_no, prev_assistant ORDER BY idx) - 1 AS position,
               msg->>'tool_call_id' AS tool_call_id,
               CASE json_type(msg->'content')
                    WHEN 'ARRAY' THEN array_to_string(json_extract_string(msg->'content', '$[*].text'), chr(10))
                    ELSE msg->>'content' END AS output,
               TRY_CAST(coalesce(msg->>'exit_code', msg->>'returncode', msg->'extra'->>'returncode',
                                 msg->'metadata'->>'exit_code') AS INTEGER) AS exit_code,
               ts_raw
        FROM ordered WHERE role IN ('tool', 'function')
    ), calls AS (
        SELECT o.* EXCLUDE (msg, call_ord), o.msg->>'model' AS msg_model, call_ord - 1 AS call_index,
               coalesce(call->'function'->>'name', call->>'function', call->>'name') AS tool,
               coalesce(call->'function'->>'arguments', call->>'arguments') AS arguments,
               call->>'id' AS call_id
        FROM (SELECT *, unnest(json_extract(msg, '$.tool_calls[*]')) AS call,
                     generate_subscripts(json_extract(msg, '$.tool_calls[*]'), 1) AS call_ord
              FROM ordered WHERE role = 'assistant' AND json_array_length(msg->'tool_calls') > 0) o
    ), paired AS (
        SELECT c.*, coalesce(r1.output, r2.output) AS output, coalesce(r1.exit_code, r2.exit_code) AS exit_code,
               coalesce(r1.ts_raw, r2.ts_raw) AS end_raw,
               CASE WHEN json_valid(c.arguments) AND json_type(c.arguments::JSON) = 'OBJECT'
                    THEN c.arguments::JSON END AS a
        FROM calls c
        LEFT JOIN results r1 ON r1.line_no = c.line_no AND r1.tool_call_id = c.call_id
        LEFT JOIN results r2 ON r2.line_no = c.line_no AND r2.prev_assistant = c.idx
                             AND r2.position = c.call_index AND (c.call_id IS NULL OR r2.tool_call_id IS NULL)
    ), steps AS (
        SELECT c.*,
               CASE WHEN {name} IN {_in_list(EXEC_TOOLS | PYTHON_TOOLS)} THEN 'exec'
                    WHEN {name} IN {_in_list(EDIT_TOOLS)} AND a->>'command' IN ('create', 'write') THEN 'write'
                    WHEN {name} IN {_in_list(EDIT_TOOLS)} AND a->>'command' = 'view' THEN 'read'
                    WHEN {name} IN {_in_list(WRITE_TOOLS)} THEN 'write'
                    WHEN {name} IN {_in_list(EDIT_TOOLS)} THEN 'edit'
                    WHEN {name} IN {_in_list(READ_TOOLS)} THEN 'read'
                    WHEN {name} IN {_in_list(SUBMIT_TOOLS)} THEN 'submit'
                    ELSE 'tool' END AS action,
               CASE WHEN {name} IN {_in_list(EXEC_TOOLS)} THEN coalesce({exec_keys.replace('a->>', 'a->>')},
                                                                      CASE WHEN a IS NULL THEN c.arguments END)
                    WHEN {name} IN {_in_list(PYTHON_TOOLS)} THEN
                        'python3 -c ''' || replace(coalesce(a->>'code', a->>'source', a->>'command', c.arguments), '''', '''\\''''') || ''''
               END AS command,
               coalesce(a->>'path', a->>'file_path', a->>'filename', a->>'absolute_path') AS file_path,
               coalesce(a->>'file_text', a->>'content', a->>'new_str', a->>'new_string') AS file_content
        FROM paired c
    )
    SELECT '{source_format}' AS source_format, run_id, trajectory_id, turn::INTEGER AS step,
           call_index::INTEGER AS call_index, call_id AS tool_call_id,
           coalesce(agent_ts(ts_raw, $tz), agent_ts(start_raw, $tz)) AS ts,
           agent_ts(end_raw, $tz) AS ts_end, coalesce(ts_raw, start_raw) AS ts_raw,
           CASE WHEN ts_raw IS NOT NULL THEN agent_ts_basis(ts_raw)
                WHEN start_raw IS NOT NULL THEN 'derived' ELSE 'unknown' END AS ts_basis,
           CASE WHEN agent_ts_basis(coalesce(ts_raw, start_raw)) = 'local_assumed' THEN coalesce($tz, 'UTC') END AS tz_assumed,
           sandbox, sandbox_ip, container_id, host, 'assistant' AS role, action, tool,
           left(command, 262144) AS command, left(arguments, {ARGUMENTS_LIMIT}) AS arguments,
           CASE WHEN action IN ('write', 'edit', 'read') THEN file_path END AS file_path,
           CASE WHEN action IN ('write', 'edit') THEN left(file_content, {CONTENT_LIMIT}) END AS file_content,
           left(output, {OUTPUT_EXCERPT}) AS output_excerpt, sha256(output) AS output_sha256,
           octet_length(encode(output)) AS output_bytes, exit_code, reward, global_step,
           coalesce(msg_model, model) AS model,
           'line:' || line_no || ' traj:' || trajectory_id || ' step:' || turn
               || CASE WHEN call_index > 0 THEN '.' || call_index ELSE '' END AS locator
    FROM steps
    UNION ALL
    SELECT '{source_format}', run_id, trajectory_id, turn::INTEGER, 0, NULL,
           coalesce(agent_ts(ts_raw, $tz), agent_ts(start_raw, $tz)), NULL, coalesce(ts_raw, start_raw),
           CASE WHEN ts_raw IS NOT NULL THEN agent_ts_basis(ts_raw)
                WHEN start_raw IS NOT NULL THEN 'derived' ELSE 'unknown' END,
           CASE WHEN agent_ts_basis(coalesce(ts_raw, start_raw)) = 'local_assumed' THEN coalesce($tz, 'UTC') END,
           sandbox, sandbox_ip, container_id, host, 'assistant', 'message', NULL, NULL, NULL, NULL, NULL,
           left(text, {OUTPUT_EXCERPT}), sha256(text), octet_length(encode(text)), NULL, reward, global_step,
           coalesce(msg->>'model', model),
           'line:' || line_no || ' traj:' || trajectory_id || ' step:' || turn
    FROM (SELECT *, CASE json_type(msg->'content')
                         WHEN 'ARRAY' THEN array_to_string(json_extract_string(msg->'content', '$[*].text'), chr(10))
                         ELSE msg->>'content' END AS text
          FROM ordered
          WHERE role = 'assistant' AND coalesce(json_array_length(msg->'tool_calls'), 0) = 0)
    WHERE text IS NULL OR NOT (contains(text, '<function=') OR contains(text, '<tool_call>'))
    """


def _xml_calls(ctx: ParseContext, table: str, source_format: str) -> None:
    """Assistant texts holding raw Qwen3-Coder XML tool calls (filtered in SQL, parsed in Python)."""
    rows = ctx.con.execute(f"""
        WITH src AS (
            SELECT line_no, line::JSON AS j FROM {table}
            WHERE CASE WHEN json_valid(line) THEN json_type(line::JSON) = 'OBJECT' ELSE false END
              AND (contains(line, '<function=') OR contains(line, '<tool_call>'))
        )
        SELECT line_no, j::VARCHAR FROM src
    """).fetchall()
    if not rows:
        return
    writer = StepWriter(ctx)
    for line_no, text in rows:
        obj = json.loads(text)
        meta = _meta(obj, source_format, ctx, f"line:{line_no} ")
        messages = obj.get("messages") or obj.get("conversation") or []
        # only the assistant turns without native tool_calls that carry XML calls are added here
        sub = _XmlOnly(writer)
        steps_from_messages(messages, meta, sub, tz_hint=ctx.hints.timezone)
    writer.flush()


class _XmlOnly:
    """A writer that keeps only steps whose calls came from XML in the text (the SQL path has the rest)."""

    def __init__(self, writer: StepWriter) -> None:
        self.writer = writer

    def add(self, step: Step) -> None:
        if step.from_text:
            self.writer.add(step)


def _meta(obj: dict, source_format: str, ctx: ParseContext, prefix: str = "") -> TrajectoryMeta:
    def get(*keys: str) -> Any:
        for holder in (obj, obj.get("metadata") or {}, obj.get("env_info") or {}):
            if isinstance(holder, dict):
                for key in keys:
                    if holder.get(key) not in (None, ""):
                        return holder[key]
        return None

    trajectory_id = get("trajectory_id", "traj_id", "episode_id", "id", "uuid")
    return TrajectoryMeta(
        source_format=source_format, trajectory_id=str(trajectory_id) if trajectory_id is not None else None,
        run_id=get("run_id", "run", "experiment", "exp_name", "job_id"), sandbox=get("sandbox_id", "sandbox"),
        sandbox_ip=get("sandbox_ip", "ip"), container_id=get("container_id", "container"),
        host=get("host", "hostname", "node", "node_name") or ctx.hints.host, reward=get("reward", "score"),
        global_step=get("global_step", "train_step"), model=get("model", "model_name"),
        locator_prefix=prefix + (f"traj:{trajectory_id} " if trajectory_id is not None else ""),
    )


def parse_jsonl(ctx: ParseContext, source_format: str = NAME) -> None:
    sql = batch_sql("_lines", source_format)

    def per_batch(table: str) -> None:
        ctx.insert("agent_steps", sql, params={"tz": ctx.hints.timezone, "host": ctx.hints.host})
        _xml_calls(ctx, table, source_format)

    run_batches(ctx, per_batch)


def parse_document(ctx: ParseContext, obj: Any, source_format: str = NAME) -> None:
    writer = StepWriter(ctx)
    if isinstance(obj, list) and obj and isinstance(obj[0], dict) and "messages" in obj[0]:
        trajectories = obj
    elif isinstance(obj, dict):
        trajectories = [obj]
    else:
        trajectories = [{"messages": obj}]
    for index, traj in enumerate(trajectories):
        if not isinstance(traj, dict):
            ctx.warn(f"trajectory:{index}", "trajectory is not a JSON object", traj)
            continue
        meta = _meta(traj, source_format, ctx)
        if meta.trajectory_id is None:
            meta.trajectory_id = f"{ctx.display_path.rsplit('/', 1)[-1]}#{index}"
            meta.locator_prefix = f"traj:{meta.trajectory_id} "
        messages = traj.get("messages") or traj.get("conversation") or []
        steps_from_messages(messages, meta, writer, tz_hint=ctx.hints.timezone, warn=ctx.warn)
    writer.flush()


def parse(ctx: ParseContext) -> None:
    with ctx.open() as handle:
        head = handle.read(65536)
    stripped = head.lstrip()
    if stripped.startswith(b"["):
        _parse_whole(ctx, NAME)
    else:
        # one object per line, or one (possibly pretty-printed) object
        first_line = stripped.split(b"\n", 1)[0]
        try:
            json.loads(first_line)
            is_lines = True
        except ValueError:
            is_lines = len(first_line) >= 65536 - 1  # a long first line: stream it as JSON lines
        if is_lines:
            parse_jsonl(ctx, NAME)
        else:
            _parse_whole(ctx, NAME)
    analyse.finish(ctx)


def _parse_whole(ctx: ParseContext, source_format: str) -> None:
    if ctx.local_path.stat().st_size > MAX_DOCUMENT:
        ctx.warn(None, f"JSON document larger than {MAX_DOCUMENT // 2**20} MiB is not loaded whole; "
                       "convert it to JSON lines", None)
        return
    raw = ctx.local_path.read_bytes()
    try:
        obj = json.loads(raw.decode("utf-8", "replace"))
    except ValueError as exc:
        ctx.warn(f"offset:{getattr(exc, 'pos', 0)}", f"invalid JSON: {exc}", raw[max(0, getattr(exc, 'pos', 0) - 80):][:200])
        return
    parse_document(ctx, obj, source_format)


register(Parser(
    name=NAME,
    description="OpenAI chat transcripts and RL rollout dumps (JSON lines, one trajectory per line; tool_calls, "
                "role:tool results, iFlow run_shell_command, Qwen3-Coder XML tool calls)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"),
    sniff=sniff,
    parse=parse,
    extensions=(".jsonl", ".json"),
))
