"""The canonical agent step: tool names mapped to one executed-command action, times with their
basis, outputs kept as a bounded excerpt plus a hash, rows written to ``agent_steps`` in batches.

Every transcript parser builds :class:`Step` objects (or, for the large OpenAI JSON-lines files,
SQL that produces the same columns) and hands them to a :class:`StepWriter`, which flushes Arrow
batches of bounded size into the case.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Iterable
from zoneinfo import ZoneInfo

import pyarrow as pa

OUTPUT_EXCERPT = 1024
ARGUMENTS_LIMIT = 4096
CONTENT_LIMIT = 64 * 1024
COMMAND_LIMIT = 256 * 1024
BATCH_ROWS = 20_000

# Tool names (lower-cased) whose call runs a shell command, and the argument keys holding it.
EXEC_TOOLS = {
    "bash", "shell", "sh", "run_shell_command", "execute_bash", "execute_command", "run", "terminal",
    "bash_command", "cmd", "exec", "run_command", "shell_exec", "local_shell", "container.exec",
    "execute", "command", "run_terminal_cmd", "terminal_command", "bash_tool", "computer_shell",
    "shell_command", "run_bash", "exec_command", "cmd_run", "runcommand",
}
EXEC_KEYS = ("command", "cmd", "script", "commands", "bash_command", "shell_command", "input", "code")
PYTHON_TOOLS = {"python", "ipython", "run_ipython", "execute_python", "python_interpreter",
                "execute_ipython_cell", "python_exec", "jupyter", "code_interpreter"}
WRITE_TOOLS = {"write_file", "create_file", "write", "write_to_file", "save_file", "file_write", "create"}
EDIT_TOOLS = {"edit", "edit_file", "multiedit", "multi_edit", "str_replace", "replace", "apply_patch",
              "str_replace_editor", "str_replace_based_edit_tool", "text_editor", "edit_block", "patch"}
READ_TOOLS = {"read_file", "read", "view", "open", "cat", "read_many_files", "view_file", "glob", "grep",
              "list_directory", "ls", "find_file", "search_file", "search_dir", "search"}
SUBMIT_TOOLS = {"submit", "finish", "exit", "task_complete", "final_answer", "done", "attempt_completion"}
PATH_KEYS = ("path", "file_path", "filename", "file", "absolute_path", "target_file")
CONTENT_KEYS = ("file_text", "content", "contents", "text", "new_str", "new_string", "code")

STEP_SCHEMA = pa.schema([
    ("source_format", pa.string()), ("run_id", pa.string()), ("trajectory_id", pa.string()),
    ("step", pa.int32()), ("call_index", pa.int32()), ("tool_call_id", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")), ("ts_end", pa.timestamp("us", tz="UTC")),
    ("ts_raw", pa.string()), ("ts_basis", pa.string()), ("tz_assumed", pa.string()),
    ("sandbox", pa.string()), ("sandbox_ip", pa.string()), ("container_id", pa.string()),
    ("host", pa.string()), ("role", pa.string()), ("action", pa.string()), ("tool", pa.string()),
    ("command", pa.string()), ("arguments", pa.string()), ("file_path", pa.string()),
    ("file_content", pa.string()), ("output_excerpt", pa.string()), ("output_sha256", pa.string()),
    ("output_bytes", pa.int64()), ("exit_code", pa.int32()), ("reward", pa.float64()),
    ("global_step", pa.int32()), ("model", pa.string()), ("locator", pa.string()),
])


@dataclass
class Step:
    """One agent step before it is written (see ``agent_steps`` in queries/schema/50_agent.sql)."""

    source_format: str
    trajectory_id: str | None
    step: int
    locator: str
    call_index: int = 0
    run_id: str | None = None
    tool_call_id: str | None = None
    ts: datetime | None = None
    ts_end: datetime | None = None
    ts_raw: str | None = None
    ts_basis: str = "unknown"
    tz_assumed: str | None = None
    sandbox: str | None = None
    sandbox_ip: str | None = None
    container_id: str | None = None
    host: str | None = None
    role: str = "assistant"
    action: str = "tool"
    tool: str | None = None
    command: str | None = None
    arguments: str | None = None
    file_path: str | None = None
    file_content: str | None = None
    output: Any = None            # full output text (hashed, then cut to an excerpt)
    exit_code: int | None = None
    reward: float | None = None
    global_step: int | None = None
    model: str | None = None
    from_text: bool = False       # the call was read from assistant text (XML or fenced block)


@dataclass
class ToolAction:
    action: str
    command: str | None = None
    file_path: str | None = None
    file_content: str | None = None


def _loads(arguments: Any) -> Any:
    if isinstance(arguments, (dict, list)):
        return arguments
    if isinstance(arguments, (bytes, str)):
        text = arguments.strip() if isinstance(arguments, str) else arguments
        if text and (text[:1] in ("{", "[") if isinstance(text, str) else text[:1] in (b"{", b"[")):
            try:
                return json.loads(text)
            except (ValueError, TypeError):
                return arguments
    return arguments


def canonical_action(tool: str | None, arguments: Any) -> ToolAction:
    """Map a framework's tool call to the canonical action: ``exec`` with the shell text for every
    shell tool (``bash{command}``, ``run_shell_command{command}``, ``Bash``, Inspect ``bash{cmd}``,
    OpenHands ``run``), ``python -c`` for code tools, ``write``/``edit`` with the file for editors."""
    name = (tool or "").strip()
    lowered = name.lower().split(".")[-1] if name.lower() not in EXEC_TOOLS else name.lower()
    args = _loads(arguments)
    if isinstance(args, dict):
        sub = str(args.get("command") or "") if lowered in EDIT_TOOLS | {"text_editor", "str_replace_editor"} else ""
        if lowered in EDIT_TOOLS and sub in ("create", "str_replace", "insert", "view", "undo_edit", "write"):
            path = _first(args, PATH_KEYS)
            if sub == "view":
                return ToolAction("read", file_path=path)
            content = _first(args, ("file_text", "new_str", "content"))
            return ToolAction("write" if sub in ("create", "write") else "edit", file_path=path,
                              file_content=content)
        if lowered in EXEC_TOOLS:
            command = _first(args, EXEC_KEYS)
            if isinstance(args.get("commands"), list):
                command = "\n".join(str(c) for c in args["commands"])
            return ToolAction("exec", command=command)
        if lowered in PYTHON_TOOLS:
            code = _first(args, ("code", "source", "cell", "command", "input"))
            return ToolAction("exec", command=f"python3 -c {shlex.quote(code)}" if code else None)
        if lowered in WRITE_TOOLS:
            return ToolAction("write", file_path=_first(args, PATH_KEYS), file_content=_first(args, CONTENT_KEYS))
        if lowered in EDIT_TOOLS:
            content = _first(args, ("new_string", "new_str", "content", "patch", "diff", "edits"))
            return ToolAction("edit", file_path=_first(args, PATH_KEYS), file_content=content)
        if lowered in READ_TOOLS:
            return ToolAction("read", file_path=_first(args, PATH_KEYS + ("pattern", "dir_path")))
        if lowered in SUBMIT_TOOLS:
            return ToolAction("submit")
        return ToolAction("tool")
    if isinstance(args, str) and lowered in EXEC_TOOLS:
        return ToolAction("exec", command=args)
    if isinstance(args, str) and lowered in PYTHON_TOOLS:
        return ToolAction("exec", command=f"python3 -c {shlex.quote(args)}")
    if lowered in SUBMIT_TOOLS:
        return ToolAction("submit")
    return ToolAction("tool")


def _first(args: dict, keys: Iterable[str]) -> str | None:
    for key in keys:
        value = args.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)
    return None


# ------------------------------------------------------------------------------------------ time

_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$", re.I)


def parse_time(value: Any, tz_hint: str | None = None) -> tuple[datetime | None, str | None, str, str | None]:
    """(UTC time, raw stamp, basis, zone assumed) for an epoch number or an ISO 8601 stamp.

    Aware stamps and epochs are ``absolute``; naive stamps are read in ``tz_hint`` (UTC when there
    is none) and marked ``local_assumed``."""
    if value is None or value == "":
        return None, None, "unknown", None
    if isinstance(value, bool):
        return None, str(value), "unknown", None
    if isinstance(value, (int, float)):
        seconds = float(value)
        if seconds > 1e14:
            seconds /= 1e6
        elif seconds > 1e11:
            seconds /= 1e3
        try:
            return datetime.fromtimestamp(seconds, tz=timezone.utc), str(value), "absolute", None
        except (OverflowError, OSError, ValueError):
            return None, str(value), "unknown", None
    text = str(value).strip()
    if re.fullmatch(r"\d{9,16}(\.\d+)?", text):
        return parse_time(float(text), tz_hint)
    candidate = text.replace(" ", "T", 1) if re.match(r"\d{4}-\d{2}-\d{2} \d", text) else text
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    m = re.match(r"^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})(?:_(\d+))?$", text)  # ROLL %Y%m%d_%H%M%S_%f
    if m:
        candidate = f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}:{m.group(5)}:{m.group(6)}"
        if m.group(7):
            candidate += "." + m.group(7)[:6]
    candidate = re.sub(r"(\.\d{6})\d+", r"\1", candidate)
    candidate = re.sub(r",(\d+)", r".\1", candidate)
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None, text, "unknown", None
    if parsed.tzinfo is not None:
        return parsed.astimezone(timezone.utc), text, "absolute", None
    zone = tz_hint or "UTC"
    try:
        aware = parsed.replace(tzinfo=ZoneInfo(zone))
    except Exception:
        zone = "UTC"
        aware = parsed.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc), text, "local_assumed", zone


def output_text(value: Any) -> str | None:
    """Tool output as text: strings as they are, content-part lists joined, other JSON dumped."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                if "text" in item:
                    parts.append(str(item.get("text") or ""))
                elif "content" in item:
                    parts.append(output_text(item.get("content")) or "")
                else:
                    parts.append(json.dumps(item, ensure_ascii=False)[:OUTPUT_EXCERPT])
            else:
                parts.append(str(item))
        return "\n".join(parts)
    if isinstance(value, dict):
        for key in ("text", "content", "output", "stdout"):
            if key in value:
                return output_text(value[key])
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def bounded(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(value) <= limit else value[:limit]


# ------------------------------------------------------------------------------------------ writer

class StepWriter:
    """Collects steps and writes them to ``agent_steps`` in Arrow batches of bounded size."""

    def __init__(self, ctx: Any, batch_rows: int = BATCH_ROWS) -> None:
        self.ctx = ctx
        self.batch_rows = batch_rows
        self.columns: dict[str, list[Any]] = {f.name: [] for f in STEP_SCHEMA}
        self.rows = 0
        self.written = 0

    def add(self, step: Step) -> None:
        text = output_text(step.output)
        cols = self.columns
        for name in ("source_format", "run_id", "trajectory_id", "step", "call_index", "tool_call_id",
                     "ts", "ts_end", "ts_raw", "ts_basis", "tz_assumed", "sandbox", "sandbox_ip",
                     "container_id", "host", "role", "action", "tool", "exit_code", "reward",
                     "global_step", "model", "locator", "file_path"):
            cols[name].append(getattr(step, name))
        cols["command"].append(bounded(step.command, COMMAND_LIMIT))
        cols["arguments"].append(bounded(step.arguments, ARGUMENTS_LIMIT))
        cols["file_content"].append(bounded(step.file_content, CONTENT_LIMIT))
        if text is None:
            cols["output_excerpt"].append(None)
            cols["output_sha256"].append(None)
            cols["output_bytes"].append(None)
        else:
            raw = text.encode("utf-8", "surrogatepass")
            cols["output_excerpt"].append(text[:OUTPUT_EXCERPT])
            cols["output_sha256"].append(hashlib.sha256(raw).hexdigest())
            cols["output_bytes"].append(len(raw))
        self.rows += 1
        if self.rows >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        for key in ("run_id", "trajectory_id", "sandbox", "sandbox_ip", "container_id", "host",
                    "model", "tool", "tool_call_id"):
            self.columns[key] = [None if v is None else str(v) for v in self.columns[key]]
        for key in ("exit_code", "global_step"):
            self.columns[key] = [_int_or_none(v) for v in self.columns[key]]
        self.columns["reward"] = [_float_or_none(v) for v in self.columns["reward"]]
        table = pa.Table.from_pydict(self.columns, schema=STEP_SCHEMA)
        self.written += self.ctx.insert("agent_steps", table)
        self.columns = {f.name: [] for f in STEP_SCHEMA}
        self.rows = 0


def _int_or_none(value: Any) -> int | None:
    try:
        if value is None or value == "":
            return None
        number = int(value)
        return number if -2**31 <= number < 2**31 else None
    except (TypeError, ValueError):
        return None


def _float_or_none(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


STEP_FIELDS = [f.name for f in fields(Step)]
