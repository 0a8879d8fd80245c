"""Harbor / Terminal-Bench ATIF trajectories (``schema_version: ATIF-v1.x``): ``steps[]`` with
``step_id``, ISO ``timestamp``, ``source``, ``tool_calls[{tool_call_id, function_name,
arguments{}}]`` and ``observation.results[{source_call_id, content}]``."""

from __future__ import annotations

import json

from forensics.agent import analyse
from forensics.agent.steps import Step, StepWriter, canonical_action, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "harbor_atif"


def sniff(s: Sniff) -> float:
    return 0.95 if '"schema_version"' in s.text[:4096] and "ATIF" in s.text[:4096] else 0.0


def parse(ctx: ParseContext) -> None:
    try:
        doc = json.loads(ctx.local_path.read_bytes().decode("utf-8", "replace"))
    except ValueError as exc:
        ctx.warn(None, f"invalid JSON: {exc}", None)
        return
    session = str(doc.get("session_id") or ctx.display_path.rsplit("/", 1)[-1])
    agent = doc.get("agent") or {}
    writer = StepWriter(ctx)
    for entry in doc.get("steps") or []:
        if not isinstance(entry, dict) or entry.get("source") != "agent":
            continue
        ts, raw, basis, tz = parse_time(entry.get("timestamp"), ctx.hints.timezone)
        results = {str(r.get("source_call_id")): r.get("content")
                   for r in ((entry.get("observation") or {}).get("results") or []) if isinstance(r, dict)}
        calls = entry.get("tool_calls") or []
        number = int(entry.get("step_id") or 0)
        common = dict(source_format=NAME, trajectory_id=session, step=number, ts=ts, ts_raw=raw, ts_basis=basis,
                      tz_assumed=tz, host=ctx.hints.host, model=entry.get("model_name") or agent.get("model_name"),
                      run_id=(doc.get("extra") or {}).get("task_id") if isinstance(doc.get("extra"), dict) else None)
        if not calls:
            writer.add(Step(**common, locator=f"traj:{session} step:{number}", action="message", output=entry.get("message")))
        for k, call in enumerate(calls):
            action = canonical_action(call.get("function_name"), call.get("arguments"))
            writer.add(Step(**common, call_index=k, locator=f"traj:{session} step:{number}" + (f".{k}" if k else ""),
                            tool_call_id=call.get("tool_call_id"), tool=call.get("function_name"),
                            action=action.action, command=action.command, file_path=action.file_path,
                            file_content=action.file_content, arguments=json.dumps(call.get("arguments")),
                            output=results.get(str(call.get("tool_call_id")))))
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="Harbor / Terminal-Bench ATIF trajectories (steps with tool_calls and observations)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".json",),
))
