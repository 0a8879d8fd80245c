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
from forensics.agent.jsonl import collect_invalid, run_batches
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import (ARGUMENTS_LIMIT, COMMAND_LIMIT, CONTENT_LIMIT, EDIT_TOOLS, EXEC_KEYS, EXEC_TOOLS,
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

# Keys read from a trajectory line (top level, then ``metadata``, then ``env_info``), by column.
META_KEYS = {
    "trajectory_id": ("trajectory_id", "traj_id", "episode_id", "id", "uuid"),
    "run_id": ("run_id", "run", "experiment", "exp_name", "job_id"),
    "sandbox": ("sandbox_id", "sandbox"),
    "sandbox_ip": ("sandbox_ip", "ip"),
    "container_id": ("container_id", "container"),
    "host": ("host", "hostname", "node", "node_name"),
    "reward": ("reward", "score", "episode_reward"),
    "global_step": ("global_step", "train_step"),
    "model": ("model", "model_name"),
    "start_raw": ("start_time", "started_at", "timestamp"),
}
_V = "VARCHAR"
_META = {key: _V for keys in META_KEYS.values() for key in keys}
_MESSAGE = {
    "role": _V, "content": "JSON", "timestamp": _V, "ts": _V, "created_at": _V, "time": _V,
    "extra": {"timestamp": _V, "returncode": _V}, "metadata": {"exit_code": _V},
    "tool_call_id": _V, "exit_code": _V, "returncode": _V, "model": _V,
    "tool_calls": [{"id": _V, "function": {"name": _V, "arguments": _V}, "name": _V, "arguments": _V}],
}
# One typed parse of each line (DuckDB's yyjson): absent keys are NULL, values of another JSON
# type than declared are NULL (objects read as VARCHAR keep their JSON text).
LINE_SCHEMA = json.dumps({**_META, "metadata": _META, "env_info": _META, "messages": [_MESSAGE],
                          "conversation": [_MESSAGE], "request": {"messages": [_MESSAGE]}})
# Most lines carry every message's content as a string: read as VARCHAR it is unescaped once,
# not written back as JSON and parsed again. Lines with content blocks (a JSON array) take the
# JSON schema above.
_STRING_MESSAGE = {**_MESSAGE, "content": _V}
STRING_LINE_SCHEMA = json.dumps({**_META, "metadata": _META, "env_info": _META, "messages": [_STRING_MESSAGE],
                                 "conversation": [_STRING_MESSAGE], "request": {"messages": [_STRING_MESSAGE]}})
BLOCKS_PATH = """(contains(line, 'content":[') OR contains(line, 'content": ['))"""
_ARG_KEYS = tuple(dict.fromkeys(EXEC_KEYS + ("code", "source", "command", "path", "file_path", "filename",
                                             "absolute_path", "file_text", "content", "new_str", "new_string")))
ARGS_SCHEMA = json.dumps({key: _V for key in _ARG_KEYS})
# Lines the typed parse cannot represent go through the Python path instead: Inspect-style
# ``"function": "bash"`` calls (a string, not an object).
# (needles that start with a rare byte: a search for '"' would stop at every key)
PYTHON_PATH = """(contains(line, 'function":"') OR contains(line, 'function": "'))"""
XML_PATH = "(contains(line, '<function=') OR contains(line, '<tool_call>'))"


def _in_list(names: set[str]) -> str:
    return "(" + ", ".join("'" + n.replace("'", "''") + "'" for n in sorted(names)) + ")"


def _text_of(value: str) -> str:
    """SQL: the text of a JSON content value (a string, or an array of blocks with ``text``)."""
    return (f"CASE WHEN starts_with({value}, '\"') THEN {value}->>'$' "
            f"WHEN starts_with({value}, '[') THEN array_to_string(json_extract_string({value}, '$[*].text'), chr(10)) "
            f"ELSE {value}::VARCHAR END")


# a Python code tool's source as ``python3 -c CODE``, CODE quoted the way shlex.quote does it
_PY_CODE = "coalesce(a.code, a.source, a.command, arguments)"
_PY_QUOTED = (f"CASE WHEN {_PY_CODE} = '' THEN NULL "
              f"WHEN regexp_full_match({_PY_CODE}, '[\\w@%+=:,./-]+') THEN 'python3 -c ' || {_PY_CODE} "
              f"ELSE 'python3 -c ''' || replace({_PY_CODE}, '''', '''\"''\"''') || '''' END")


def _tool_kinds() -> str:
    """SQL VALUES: lower-cased tool name -> exec, python, edit, write, read, submit."""
    kinds: dict[str, str] = {}
    for kind, names in (("submit", SUBMIT_TOOLS), ("read", READ_TOOLS), ("edit", EDIT_TOOLS),
                        ("write", WRITE_TOOLS), ("python", PYTHON_TOOLS), ("exec", EXEC_TOOLS)):
        for n in names:
            kinds[n] = kind  # the order above gives exec the last word, as the CASE used to
    rows = ", ".join(f"('{n.replace(chr(39), chr(39) * 2)}', '{k}')" for n, k in sorted(kinds.items()))
    return f"(VALUES {rows}) AS k(tool_name, kind)"


def batch_sql(table: str, source_format: str, blocks: bool = False) -> str:
    """The SELECT that turns a batch of trajectory lines (``line_no``, ``line``) into agent_steps
    rows in one pipeline: one typed parse per line; per line, list functions number the assistant
    turns, flatten the tool calls, find each call's result (the first later ``role: tool``
    message with its ``tool_call_id``, else the k-th result after the turn when ids are missing)
    and pick the fields each step needs, so that one unnest of small structs gives the steps: no
    join, sort or window, and no message list carried past the unnest. ``blocks`` selects the
    lines whose contents may be arrays of blocks (the others read contents as plain strings)."""
    def meta(column: str) -> str:
        keys = META_KEYS[column]
        return "coalesce(" + ", ".join([f"j.{k}" for k in keys] + [f"j.metadata.{k}" for k in keys]
                                       + [f"j.env_info.{k}" for k in keys]) + ")"
    exec_keys = "coalesce(" + ", ".join(f"a.{k}" for k in EXEC_KEYS) + ")"
    tool_role = "IN ('tool', 'function')"
    ts_of = "coalesce({m}.timestamp, {m}.ts, {m}.created_at, {m}.time, {m}.extra.timestamp)"
    return f"""
    WITH traj AS (
        SELECT line_no, j, messages,
               list_transform(messages, lambda x: x.role) AS roles,
               list_transform(messages, lambda x: CASE WHEN x.role {tool_role} THEN x.tool_call_id END) AS result_ids,
               list_filter(list_transform(messages, lambda x, i: CASE WHEN x.role = 'assistant' THEN i END),
                           lambda x: x IS NOT NULL) AS assistants
        -- no filter on j: the optimiser would run the parse twice
        FROM (SELECT line_no, j, coalesce(j.messages, j.conversation, j.request.messages) AS messages
              FROM (SELECT line_no, try(from_json(line, '{LINE_SCHEMA if blocks else STRING_LINE_SCHEMA}')) AS j
                    FROM {table}
                    WHERE starts_with(line, '{{') AND NOT {PYTHON_PATH} AND {'' if blocks else 'NOT '}{BLOCKS_PATH}))
    ), located AS (
        -- one entry per tool call, and one per assistant message without any (k = -1), with the
        -- index r of its result message
        SELECT line_no, j, messages, flatten(list_transform(assistants, lambda a, turn:
                  CASE WHEN coalesce(len(messages[a].tool_calls), 0) > 0
                       THEN list_transform(messages[a].tool_calls, lambda x, k: {{
                           'a': a, 'turn': turn, 'k': k - 1,
                           'tool': coalesce(x.function.name, x.name),
                           'arguments': coalesce(x.function.arguments, x.arguments), 'id': x.id,
                           'r': coalesce(
                               CASE WHEN x.id IS NOT NULL THEN a + list_position(result_ids[a + 1:], x.id) END,
                               -- by position: the k-th result after the turn, unless it answers another call
                               list_filter(list_filter(range(a + 1, coalesce(assistants[turn + 1], len(messages) + 1)),
                                                       lambda i: roles[i] {tool_role})[k:k],
                                           lambda i: x.id IS NULL OR result_ids[i] IS NULL)[1])}})
                       ELSE [{{'a': a, 'turn': turn, 'k': -1, 'tool': NULL, 'arguments': NULL, 'id': NULL,
                               'r': a}}] END)) AS calls
        FROM traj
    ), picked AS (
        SELECT line_no,
               coalesce({meta('trajectory_id')}, 'line-' || line_no) AS trajectory_id,
               {meta('run_id')} AS run_id, {meta('sandbox')} AS sandbox, {meta('sandbox_ip')} AS sandbox_ip,
               {meta('container_id')} AS container_id, coalesce({meta('host')}, $host) AS host,
               TRY_CAST({meta('reward')} AS DOUBLE) AS reward,
               TRY_CAST({meta('global_step')} AS INTEGER) AS global_step,
               {meta('model')} AS model, {meta('start_raw')} AS start_raw,
               unnest(list_transform(calls, lambda c: {{
                   'turn': c.turn, 'call_index': c.k, 'tool': c.tool, 'arguments': c.arguments, 'call_id': c.id,
                   'ts_raw': {ts_of.format(m='messages[c.a]')}, 'msg_model': messages[c.a].model,
                   'content': messages[c.r].content,
                   'exit_code': CASE WHEN c.k >= 0 THEN coalesce(messages[c.r].exit_code, messages[c.r].returncode,
                                                                  messages[c.r].extra.returncode,
                                                                  messages[c.r].metadata.exit_code) END,
                   'end_raw': CASE WHEN c.k >= 0 THEN {ts_of.format(m='messages[c.r]')} END}}), recursive := true)
        FROM located
    ), steps AS (
        SELECT * EXCLUDE (content, kind, a, exit_code),
               TRY_CAST(exit_code AS INTEGER) AS exit_code,
               CASE WHEN call_index < 0 THEN 'message'
                    WHEN kind IN ('exec', 'python') THEN 'exec'
                    WHEN kind = 'edit' AND a.command IN ('create', 'write') THEN 'write'
                    WHEN kind = 'edit' AND a.command = 'view' THEN 'read'
                    WHEN kind IS NOT NULL THEN kind
                    ELSE 'tool' END AS action,
               CASE WHEN kind = 'exec' THEN coalesce({exec_keys}, CASE WHEN a IS NULL THEN arguments END)
                    WHEN kind = 'python' THEN {_PY_QUOTED}
               END AS command,
               coalesce(a.path, a.file_path, a.filename, a.absolute_path) AS file_path,
               coalesce(a.file_text, a.content, a.new_str, a.new_string) AS file_content,
               {_text_of('content') if blocks else 'content'} AS output
        FROM (SELECT *, CASE WHEN starts_with(ltrim(arguments), '{{') THEN try(from_json(arguments, '{ARGS_SCHEMA}')) END AS a
              FROM picked)
        LEFT JOIN {_tool_kinds()} ON k.tool_name = lower(tool)
    )
    SELECT '{source_format}' AS source_format, run_id, trajectory_id, turn::INTEGER AS step,
           greatest(call_index, 0)::INTEGER AS call_index, call_id AS tool_call_id,
           coalesce(agent_ts(ts_raw, $tz), agent_ts(start_raw, $tz)) AS ts,
           agent_ts(end_raw, $tz) AS ts_end, coalesce(ts_raw, start_raw) AS ts_raw,
           CASE WHEN ts_raw IS NOT NULL THEN agent_ts_basis(ts_raw)
                WHEN start_raw IS NOT NULL THEN 'derived' ELSE 'unknown' END AS ts_basis,
           CASE WHEN agent_ts_basis(coalesce(ts_raw, start_raw)) = 'local_assumed' THEN coalesce($tz, 'UTC') END AS tz_assumed,
           sandbox, sandbox_ip, container_id, host, 'assistant' AS role, action, tool,
           left(command, {COMMAND_LIMIT}) AS command, left(arguments, {ARGUMENTS_LIMIT}) AS arguments,
           CASE WHEN action IN ('write', 'edit', 'read') THEN file_path END AS file_path,
           CASE WHEN action IN ('write', 'edit') THEN left(file_content, {CONTENT_LIMIT}) END AS file_content,
           CASE WHEN strlen(output) <= {OUTPUT_EXCERPT} THEN output ELSE left(output, {OUTPUT_EXCERPT}) END AS output_excerpt,
           sha256(output) AS output_sha256, strlen(output) AS output_bytes, exit_code, reward, global_step,
           coalesce(msg_model, model) AS model,
           'line:' || line_no || ' traj:' || trajectory_id || ' step:' || turn
               || CASE WHEN call_index > 0 THEN '.' || call_index ELSE '' END AS locator
    FROM steps
    -- assistant text holding raw XML tool calls is read by the Python path
    WHERE call_index >= 0 OR output IS NULL OR NOT (contains(output, '<function=') OR contains(output, '<tool_call>'))
    """


def _python_lines(ctx: ParseContext, table: str, source_format: str) -> None:
    """Lines the SQL path leaves to Python, found with a plain substring test first: raw
    Qwen3-Coder XML tool calls inside assistant text (only those steps: SQL has the rest of the
    line) and shapes the typed parse cannot hold (all of the line's steps)."""
    rows = ctx.con.execute(f"""
        SELECT line_no, line, {PYTHON_PATH} AS whole FROM {table}
        WHERE starts_with(line, '{{') AND ({XML_PATH} OR {PYTHON_PATH})
    """).fetchall()
    if not rows:
        return
    writer = StepWriter(ctx)
    for line_no, text, whole in rows:
        try:
            obj = json.loads(text)
        except ValueError:
            continue  # reported with the other invalid lines
        if not isinstance(obj, dict):
            continue
        meta = _meta(obj, source_format, ctx, f"line:{line_no} ")
        if meta.trajectory_id is None:
            meta.trajectory_id = f"line-{line_no}"
            meta.locator_prefix = f"line:{line_no} traj:{meta.trajectory_id} "
        messages = obj.get("messages") or obj.get("conversation") or (obj.get("request") or {}).get("messages")
        if not isinstance(messages, list):
            continue
        steps_from_messages(messages, meta, writer if whole else _XmlOnly(writer), tz_hint=ctx.hints.timezone)
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


def _insert_steps(ctx: ParseContext, sql: str, params: dict) -> None:
    """ctx.insert for this one known SELECT, without binding it a second time to learn its columns
    (the binding of the large SQL is a fixed cost per block)."""
    n = ctx.con.execute(f"INSERT INTO agent_steps BY NAME SELECT *, {int(ctx.evidence_id)}::INTEGER AS evidence_id "
                        f"FROM ({sql})", params).fetchall()[0][0]
    ctx.records["agent_steps"] += int(n)


def parse_jsonl(ctx: ParseContext, source_format: str = NAME) -> None:
    strings, blocks = batch_sql("_lines", source_format), batch_sql("_lines", source_format, blocks=True)
    params = {"tz": ctx.hints.timezone, "host": ctx.hints.host}

    def per_batch(table: str) -> None:
        n_blocks, n_python = ctx.con.execute(
            f"SELECT count(*) FILTER (WHERE {BLOCKS_PATH}), count(*) FILTER (WHERE {XML_PATH} OR {PYTHON_PATH}) FROM {table}"
        ).fetchall()[0]
        _insert_steps(ctx, strings, params)
        if n_blocks:
            _insert_steps(ctx, blocks, params)
        if n_python:
            _python_lines(ctx, table, source_format)
        collect_invalid(ctx, table, "starts_with(line, '{') AND json_valid(line)")

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
