"""Chat message lists to agent steps: OpenAI ``tool_calls`` / ``role: tool`` results, Anthropic
``tool_use`` / ``tool_result`` blocks, legacy ``function_call``, raw Qwen3-Coder
``<function=...><parameter=...>`` XML inside assistant text, and mini-swe-agent's fenced
``mswea_bash_command`` blocks. Shared by every parser whose transcript is a message list."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable

from .steps import Step, StepWriter, canonical_action, output_text, parse_time

_QWEN_CALL = re.compile(r"<function=([^>\s]+)>(.*?)(?:</function>|$)", re.S)
_QWEN_PARAM = re.compile(r"<parameter=([^>\s]+)>\n?(.*?)\n?(?:</parameter>|(?=<parameter=)|$)", re.S)
_FENCE = re.compile(r"```(?:mswea_bash_command|bash_command)\s*\n(.*?)```", re.S)
TIME_KEYS = ("timestamp", "ts", "created_at", "time", "created")


@dataclass
class TrajectoryMeta:
    source_format: str
    trajectory_id: str | None
    run_id: str | None = None
    sandbox: str | None = None
    sandbox_ip: str | None = None
    container_id: str | None = None
    host: str | None = None
    reward: float | None = None
    global_step: int | None = None
    model: str | None = None
    locator_prefix: str = ""


def qwen_tool_calls(text: str) -> list[tuple[str, dict[str, str]]]:
    """``<function=run_shell_command><parameter=command>ls</parameter></function>`` calls in text."""
    calls = []
    for m in _QWEN_CALL.finditer(text):
        params = {k: v for k, v in _QWEN_PARAM.findall(m.group(2))}
        calls.append((m.group(1), params))
    if not calls and "<tool_call>" in text:
        for body in re.findall(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", text, re.S):
            try:
                obj = json.loads(body)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("name"):
                args = obj.get("arguments")
                if isinstance(args, str):
                    try:
                        args = json.loads(args)
                    except ValueError:
                        args = {"command": args}
                calls.append((str(obj["name"]), args if isinstance(args, dict) else {}))
    return calls


def message_time(message: dict, tz_hint: str | None):
    for key in TIME_KEYS:
        if message.get(key) not in (None, ""):
            return parse_time(message[key], tz_hint)
    extra = message.get("extra")
    if isinstance(extra, dict) and extra.get("timestamp") is not None:
        return parse_time(extra["timestamp"], tz_hint)
    return None, None, "unknown", None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict) and c.get("type") in (None, "text", "output_text", "input_text"))
    return ""


def _exit_code(message: dict) -> int | None:
    for key in ("exit_code", "returncode", "return_code", "exitCode"):
        if isinstance(message.get(key), int):
            return message[key]
    for holder in ("extra", "metadata", "info"):
        sub = message.get(holder)
        if isinstance(sub, dict):
            for key in ("returncode", "exit_code", "return_code"):
                if isinstance(sub.get(key), int):
                    return sub[key]
    return None


def steps_from_messages(messages: list, meta: TrajectoryMeta, writer: StepWriter,
                        tz_hint: str | None = None,
                        warn: Callable[[str, str, Any], None] | None = None) -> int:
    """Write one step per tool call (with its result) and per assistant message without one.
    Returns the number of steps written."""
    pending: list[Step] = []
    by_id: dict[str, Step] = {}
    emitted: list[Step] = []
    turn = 0
    prefix = meta.locator_prefix or (f"traj:{meta.trajectory_id} " if meta.trajectory_id else "")

    def new_step(call_index: int, tool: str | None, arguments: Any, call_id: str | None,
                 message: dict, tm) -> Step:
        action = canonical_action(tool, arguments)
        ts, raw, basis, tz = tm
        step = Step(
            source_format=meta.source_format, trajectory_id=meta.trajectory_id, step=turn,
            call_index=call_index, locator=f"{prefix}step:{turn}" + (f".{call_index}" if call_index else ""),
            run_id=meta.run_id, tool_call_id=call_id, ts=ts, ts_raw=raw, ts_basis=basis, tz_assumed=tz,
            sandbox=meta.sandbox, sandbox_ip=meta.sandbox_ip, container_id=meta.container_id,
            host=meta.host, role="assistant", action=action.action, tool=tool, command=action.command,
            arguments=arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, default=str),
            file_path=action.file_path, file_content=action.file_content, reward=meta.reward,
            global_step=meta.global_step, model=message.get("model") or meta.model,
        )
        return step

    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            if warn:
                warn(f"{prefix}message:{index}", "message is not a JSON object", message)
            continue
        role = message.get("role") or message.get("type")
        tm = message_time(message, tz_hint)
        if role in ("assistant", "model", "ai"):
            turn += 1
            calls: list[tuple[str | None, Any, str | None]] = []
            from_text = False
            for call in message.get("tool_calls") or []:
                if not isinstance(call, dict):
                    continue
                fn = call.get("function")
                if isinstance(fn, dict):  # OpenAI: {"function": {"name", "arguments": "<json string>"}}
                    name, arguments = fn.get("name"), fn.get("arguments")
                elif isinstance(fn, str):  # Inspect: {"function": "bash", "arguments": {...}}
                    name, arguments = fn, call.get("arguments")
                else:  # ATIF and others: {"function_name"|"name", "arguments"}
                    name, arguments = call.get("function_name") or call.get("name"), call.get("arguments")
                calls.append((name, arguments, call.get("id") or call.get("tool_call_id")))
            if isinstance(message.get("function_call"), dict):
                fc = message["function_call"]
                calls.append((fc.get("name"), fc.get("arguments"), None))
            content = message.get("content")
            if isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_use":
                        calls.append((block.get("name"), block.get("input"), block.get("id")))
            text = _text_of(content)
            if not calls and text:
                if "<function=" in text or "<tool_call>" in text:
                    calls.extend((name, params, None) for name, params in qwen_tool_calls(text))
                if not calls:
                    for body in _FENCE.findall(text):
                        calls.append(("bash", {"command": body.strip()}, None))
                from_text = bool(calls)
            extra = message.get("extra")
            if not calls and isinstance(extra, dict) and isinstance(extra.get("actions"), list):
                for act in extra["actions"]:
                    if isinstance(act, dict) and act.get("command"):
                        calls.append(("bash", {"command": act["command"]}, act.get("tool_call_id")))
            if not calls:
                step = new_step(0, None, None, None, message, tm)
                step.action, step.output = "message", text or None
                emitted.append(step)
                continue
            for call_index, (name, arguments, call_id) in enumerate(calls):
                step = new_step(call_index, name, arguments, call_id, message, tm)
                step.from_text = from_text
                emitted.append(step)
                pending.append(step)
                if call_id:
                    by_id[str(call_id)] = step
        elif role in ("tool", "function", "tool_result", "ipython"):
            call_id = message.get("tool_call_id") or message.get("tool_use_id")
            step = by_id.pop(str(call_id), None) if call_id else None
            if step is None and pending:
                step = next((s for s in pending if s.output is None and s.tool_call_id is None), None) or \
                    next((s for s in pending if s.output is None), None)
            if step is None:
                # a result whose call is not in the transcript (trimmed logs): still evidence
                turn += 1
                step = new_step(0, message.get("function") or message.get("name"), None, call_id, message, tm)
                step.role, step.action = "tool", "tool"
                step.output = message.get("content") if message.get("content") not in (None, "") else message.get("error")
                emitted.append(step)
                continue
            if step in pending:
                pending.remove(step)
            step.output = message.get("content") if message.get("content") is not None else message.get("output")
            if message.get("error") and step.output in (None, ""):
                step.output = message.get("error")
            step.exit_code = _exit_code(message)
            step.ts_end = tm[0]
        elif role in ("user", "human"):
            content = message.get("content")
            if isinstance(content, list):
                for block in content:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        step = by_id.pop(str(block.get("tool_use_id")), None)
                        if step is None:
                            continue
                        if step in pending:
                            pending.remove(step)
                        step.output = output_text(block.get("content"))
                        if block.get("is_error") and step.exit_code is None:
                            step.exit_code = None
                        step.ts_end = tm[0]
    for step in emitted:
        writer.add(step)
    return len(emitted)
