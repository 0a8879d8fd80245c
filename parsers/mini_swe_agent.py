"""mini-swe-agent trajectories: ``{"info", "messages"}`` (format ``mini-swe-agent-1.1``, with
``extra.actions`` and epoch ``extra.timestamp``) and older bare message lists whose commands sit in
``mswea_bash_command`` fenced blocks. One tool (``bash``); each command runs in a fresh subshell."""

from __future__ import annotations

import json
import os
import re

from forensics.agent import analyse
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import StepWriter
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "mini_swe_agent"


def sniff(s: Sniff) -> float:
    head = s.text[:65536]
    if "mswea_bash_command" in head or "mini-swe-agent" in head or '"mini_version"' in head:
        if head.lstrip().startswith(("{", "[")):
            return 0.9
    return 0.0


def parse(ctx: ParseContext) -> None:
    try:
        doc = json.loads(ctx.local_path.read_bytes().decode("utf-8", "replace"))
    except ValueError as exc:
        ctx.warn(None, f"invalid JSON: {exc}", None)
        return
    messages = doc.get("messages") if isinstance(doc, dict) else doc
    if not isinstance(messages, list):
        ctx.warn(None, "no message list", None)
        return
    info = doc.get("info", {}) if isinstance(doc, dict) else {}
    trajectory_id = re.sub(r"\.traj\.json$|\.json$", "", os.path.basename(ctx.path))
    model = ((info.get("config") or {}).get("model") or {}).get("model_name") if isinstance(info, dict) else None
    meta = TrajectoryMeta(NAME, trajectory_id, host=ctx.hints.host, model=model)
    writer = StepWriter(ctx)
    steps_from_messages(messages, meta, writer, tz_hint=ctx.hints.timezone, warn=ctx.warn)
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME,
    description="mini-swe-agent trajectories (messages with extra.actions, or mswea_bash_command fences)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"),
    sniff=sniff, parse=parse, extensions=(".traj.json",),
))
