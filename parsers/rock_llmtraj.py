"""ROCK model-service trajectories (``LLMTraj.jsonl``): one line per chat-completions call proxied
between the agent in the sandbox and the trainer, with ``start_time``/``end_time`` (epoch
seconds), the verbatim OpenAI ``request`` and ``response``. Each call's response tool calls are
the model's claimed actions (role assistant); the next call's request carries their results.
Calls are grouped into a trajectory by ``sandbox_id``/``session`` when present, else by file."""

from __future__ import annotations

import json

from forensics.agent import analyse
from forensics.agent.steps import Step, StepWriter, canonical_action, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "rock_llmtraj"


def sniff(s: Sniff) -> float:
    first = s.first_nonblank_lines[0] if s.first_nonblank_lines else ""
    if '"request"' in first and '"response"' in first and ('"start_time"' in first or '"response_time"' in first):
        return 0.95
    return 0.0


def parse(ctx: ParseContext) -> None:
    writer = StepWriter(ctx)
    turns: dict[str, int] = {}
    with ctx.open() as handle:
        for n, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:
                ctx.warn(f"line:{n}", "truncated or invalid JSON line", raw[:200])
                continue
            request = rec.get("request") or {}
            meta = request.get("metadata") or rec.get("metadata") or {}
            tid = str(meta.get("trajectory_id") or meta.get("sandbox_id") or rec.get("session_id")
                      or ctx.display_path.rsplit("/", 1)[-1])
            turns[tid] = turns.get(tid, 0) + 1
            ts, raw_ts, basis, tz = parse_time(rec.get("end_time") or rec.get("start_time"), ctx.hints.timezone)
            choices = (rec.get("response") or {}).get("choices") or []
            message = (choices[0] or {}).get("message") if choices else None
            calls = (message or {}).get("tool_calls") or []
            common = dict(source_format=NAME, trajectory_id=tid, step=turns[tid], ts=ts, ts_raw=raw_ts, ts_basis=basis,
                          tz_assumed=tz, host=meta.get("host") or ctx.hints.host, sandbox=meta.get("sandbox_id"),
                          sandbox_ip=meta.get("sandbox_ip"), model=rec.get("model") or request.get("model"),
                          run_id=meta.get("run_id"))
            if not calls:
                writer.add(Step(**common, locator=f"line:{n}", action="message",
                                output=(message or {}).get("content") or rec.get("error")))
            for k, call in enumerate(calls):
                fn = call.get("function") or {}
                action = canonical_action(fn.get("name"), fn.get("arguments"))
                writer.add(Step(**common, call_index=k, locator=f"line:{n}" + (f" call:{k}" if k else ""),
                                tool=fn.get("name"), tool_call_id=call.get("id"), action=action.action,
                                command=action.command, file_path=action.file_path, file_content=action.file_content,
                                arguments=fn.get("arguments")))
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="ROCK model-service LLMTraj.jsonl (verbatim chat-completions request/response per call)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".jsonl",),
))
