"""Anthropic Messages API transcripts: ``messages`` whose assistant content has ``tool_use``
blocks (``input`` is an object) answered by ``tool_result`` blocks in the next user turn. One
conversation per JSON document, or one per line with optional run/trajectory metadata."""

from __future__ import annotations

import json

from forensics.agent import analyse
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import StepWriter
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "anthropic_messages"


def sniff(s: Sniff) -> float:
    text = s.text[:65536]
    if text.lstrip().startswith(("{", "[")) and '"tool_use"' in text and '"messages"' in text and "sessionId" not in text:
        return 0.85
    return 0.0


def _conversations(ctx: ParseContext):
    raw = ctx.local_path.read_bytes().decode("utf-8", "replace")
    try:
        doc = json.loads(raw)
        yield "document", doc
        return
    except ValueError:
        pass
    for n, line in enumerate(raw.splitlines(), start=1):
        if line.strip():
            try:
                yield f"line:{n}", json.loads(line)
            except ValueError:
                ctx.warn(f"line:{n}", "truncated or invalid JSON line", line[:200])


def parse(ctx: ParseContext) -> None:
    writer = StepWriter(ctx)
    for index, (where, doc) in enumerate(_conversations(ctx)):
        docs = doc if isinstance(doc, list) and doc and isinstance(doc[0], dict) and "messages" in doc[0] else [doc]
        for sub, conv in enumerate(docs):
            if not isinstance(conv, dict):
                continue
            messages = list(conv.get("messages") or [])
            if isinstance(conv.get("content"), list) and conv.get("role") == "assistant":
                messages.append(conv)  # a bare response object
            tid = conv.get("trajectory_id") or conv.get("id") or f"{ctx.display_path.rsplit('/', 1)[-1]}#{index}.{sub}"
            meta = TrajectoryMeta(NAME, str(tid), run_id=conv.get("run_id"), sandbox=conv.get("sandbox_id"),
                                  sandbox_ip=conv.get("sandbox_ip"), host=conv.get("host") or ctx.hints.host,
                                  model=conv.get("model"), locator_prefix=f"{where} traj:{tid} ")
            steps_from_messages(messages, meta, writer, tz_hint=ctx.hints.timezone, warn=ctx.warn)
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="Anthropic Messages transcripts (tool_use / tool_result content blocks)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".json", ".jsonl"),
))
