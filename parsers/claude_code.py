"""Claude Code session logs (``~/.claude/projects/<path>/<session>.jsonl``): one JSON object per
line with ``type`` (user, assistant, summary, system), ``uuid``, ``sessionId``, ``timestamp``
(ISO Z), ``cwd`` and ``message`` holding Anthropic content blocks. ``Bash`` ``tool_use`` blocks
(``input.command``) are the executed commands; ``Write``/``Edit`` carry files; results come back
as ``tool_result`` blocks in later user lines."""

from __future__ import annotations

import json

from forensics.agent import analyse
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import StepWriter
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "claude_code"


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines[:5]
    hits = 0
    for line in lines:
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and "sessionId" in obj and ("message" in obj or obj.get("type") == "summary"):
            hits += 1
    return 0.95 if hits else 0.0


def parse(ctx: ParseContext) -> None:
    sessions: dict[str, list] = {}
    with ctx.open() as handle:
        for n, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                ctx.warn(f"line:{n}", "truncated or invalid JSON line", raw[:200])
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("message"), dict):
                continue
            message = dict(obj["message"])
            message.setdefault("role", obj.get("type"))
            message["timestamp"] = obj.get("timestamp")
            sessions.setdefault(str(obj.get("sessionId")), []).append(message)
    writer = StepWriter(ctx)
    for session, messages in sessions.items():
        meta = TrajectoryMeta(NAME, session, host=ctx.hints.host)
        steps_from_messages(messages, meta, writer, tz_hint=ctx.hints.timezone, warn=ctx.warn)
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="Claude Code session JSONL (Bash/Write/Edit tool_use blocks and tool_result replies)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".jsonl",),
))
