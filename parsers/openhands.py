"""OpenHands event streams: a JSON list of events (or one event per line, or per-event files).

Agent actions carry their fields in ``args`` (``run`` → ``args.command``, ``run_ipython`` →
``args.code``, ``edit``/``write`` → ``args.path`` and content, ``read``, ``message``, ``finish``);
observations answer them through ``cause`` with ``content`` and the exit code in
``extras.metadata.exit_code`` (or legacy ``extras.exit_code``). Timestamps are naive local time
(``datetime.now().isoformat()``), read in the zone hint and marked ``local_assumed``.
"""

from __future__ import annotations

import json
import os
import shlex

from forensics.agent import analyse
from forensics.agent.steps import Step, StepWriter, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "openhands"
SKIP = {"change_agent_state", "system", "recall", "null", None, "condensation", "agent_state_changed"}


def sniff(s: Sniff) -> float:
    head = s.text[:65536]
    if head.lstrip().startswith(("[", "{")) and '"source"' in head and ('"action"' in head or '"observation"' in head) \
            and ('"args"' in head or '"extras"' in head):
        return 0.85
    return 0.0


def _events(ctx: ParseContext) -> list:
    text = ctx.local_path.read_bytes().decode("utf-8", "replace")
    try:
        doc = json.loads(text)
        return doc if isinstance(doc, list) else [doc]
    except ValueError:
        events = []
        for n, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except ValueError:
                    ctx.warn(f"line:{n}", "truncated or invalid JSON line", line[:200])
        return events


def parse(ctx: ParseContext) -> None:
    events = _events(ctx)
    trajectory_id = os.path.splitext(os.path.basename(ctx.path))[0]
    steps: dict[object, Step] = {}
    order: list[Step] = []
    turn = 0
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            ctx.warn(f"event:{index}", "event is not a JSON object", event)
            continue
        kind = event.get("action")
        if kind is not None and event.get("source") == "agent" and kind not in SKIP:
            turn += 1
            args = event.get("args") or {}
            ts, raw, basis, tz = parse_time(event.get("timestamp"), ctx.hints.timezone)
            meta = event.get("tool_call_metadata") or {}
            step = Step(source_format=NAME, trajectory_id=trajectory_id, step=turn,
                        locator=f"traj:{trajectory_id} event:{event.get('id', index)}", ts=ts, ts_raw=raw,
                        ts_basis=basis, tz_assumed=tz, host=ctx.hints.host, tool=meta.get("function_name") or kind,
                        tool_call_id=meta.get("tool_call_id"),
                        arguments=json.dumps(args, ensure_ascii=False, default=str))
            if kind == "run":
                step.action, step.command = "exec", args.get("command")
            elif kind == "run_ipython":
                step.action, step.command = "exec", f"python3 -c {shlex.quote(str(args.get('code') or ''))}"
            elif kind in ("edit", "write"):
                step.action = "write" if kind == "write" or args.get("command") == "create" else "edit"
                step.file_path = args.get("path")
                step.file_content = args.get("content") or args.get("file_text") or args.get("new_str")
            elif kind == "read":
                step.action, step.file_path = "read", args.get("path")
            elif kind == "finish":
                step.action, step.output = "submit", args.get("final_thought") or event.get("message")
            elif kind == "message":
                step.action, step.output = "message", args.get("content") or event.get("message")
            else:
                step.action = "tool"
            steps[event.get("id", index)] = step
            order.append(step)
        elif event.get("observation") and event.get("cause") in steps:
            step = steps[event["cause"]]
            extras = event.get("extras") or {}
            step.output = event.get("content")
            code = (extras.get("metadata") or {}).get("exit_code", extras.get("exit_code"))
            step.exit_code = code if isinstance(code, int) else None
            step.ts_end = parse_time(event.get("timestamp"), ctx.hints.timezone)[0]
    writer = StepWriter(ctx)
    for step in order:
        writer.add(step)
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME,
    description="OpenHands event streams (actions with args.command, observations with exit codes)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"),
    sniff=sniff, parse=parse, extensions=(".json", ".jsonl"),
))
