"""SWE-agent ``.traj`` files (``trajectory``/``history``/``info``; ``RetryAgent`` ``attempts``).

Each trajectory entry is one step: its ``action`` is the text typed into SWE-agent's shell
(``find_file``, ``open``, ``edit … end_of_edit``, ``create``, ``submit`` or plain bash), its
``observation`` the result. A ``.traj`` has no absolute time: when the sibling
``<instance>.info.log`` (or ``.debug.log``) is next to it, each ``===== STEP n =====`` banner gives
the step's wall-clock time (naive local time read in the zone hint, basis ``derived``); without it
times are ``unknown`` and ``execution_time`` is kept in the arguments. Demonstrations with an empty
``trajectory`` are read from their ``history`` messages.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from forensics.agent import analyse
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import Step, StepWriter, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "swe_agent"
READ_COMMANDS = {"open", "goto", "scroll_up", "scroll_down", "find_file", "search_file", "search_dir", "view"}
_STEP_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?)\s.*?=+\s*STEP\s+(\d+)\s*=+")


def sniff(s: Sniff) -> float:
    head = s.text[:65536]
    if head.lstrip().startswith("{") and (
            ('"trajectory"' in head and ('"history"' in head or '"info"' in head))
            or ('"history"' in head and '"message_type"' in head)):
        return 0.9
    return 0.0


def step_times(ctx: ParseContext) -> dict[int, str]:
    """STEP n → stamp, from a sibling ``.info.log``/``.debug.log`` when there is one."""
    base = re.sub(r"\.traj$", "", ctx.path)
    for suffix in (".info.log", ".debug.log"):
        path = base + suffix
        if os.path.isfile(path):
            times: dict[int, str] = {}
            with open(path, "r", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    m = _STEP_LINE.match(line)
                    if m:
                        times.setdefault(int(m.group(2)), m.group(1))
            return times
    return {}


def canonical(action: str, state: Any) -> tuple[str, str | None, str | None, str | None]:
    """(action, command, file_path, file_content) for one SWE-agent action text."""
    text = (action or "").strip()
    word = text.split(None, 1)[0] if text else ""
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except ValueError:
            state = {}
    open_file = state.get("open_file") if isinstance(state, dict) else None
    if word == "submit":
        return "submit", None, None, None
    if word == "edit":
        body = text.split("\n", 1)[1] if "\n" in text else ""
        body = re.sub(r"\n?end_of_edit\s*$", "", body)
        return "edit", None, None if open_file in (None, "n/a") else open_file, body
    if word == "create":
        return "write", None, text.split(None, 1)[1].strip() if " " in text else None, None
    if word in READ_COMMANDS:
        return "read", None, open_file if word in ("goto", "scroll_up", "scroll_down") else None, None
    return "exec", text, None, None


def parse(ctx: ParseContext) -> None:
    try:
        doc = json.loads(ctx.local_path.read_bytes().decode("utf-8", "replace"))
    except ValueError as exc:
        ctx.warn(None, f"invalid JSON: {exc}", None)
        return
    if not isinstance(doc, dict):
        ctx.warn(None, "a .traj file is a JSON object", None)
        return
    instance = os.path.basename(re.sub(r"\.traj$", "", ctx.path))
    info = doc.get("info") or {}
    run_id = os.path.basename(os.path.dirname(ctx.path)) or None
    writer = StepWriter(ctx)
    attempts = doc.get("attempts") if isinstance(doc.get("attempts"), list) else [doc]
    times = step_times(ctx)
    for attempt_index, attempt in enumerate(attempts):
        trajectory = attempt.get("trajectory") or []
        trajectory_id = instance if len(attempts) == 1 else f"{instance}#attempt{attempt_index}"
        if not trajectory:
            meta = TrajectoryMeta(NAME, trajectory_id, run_id=run_id, host=ctx.hints.host,
                                  model=(info.get("model_stats") or {}).get("model"),
                                  locator_prefix=f"traj:{trajectory_id} history ")
            steps_from_messages(attempt.get("history") or [], meta, writer, tz_hint=ctx.hints.timezone, warn=ctx.warn)
            continue
        for index, entry in enumerate(trajectory, start=1):
            if not isinstance(entry, dict):
                ctx.warn(f"trajectory[{index - 1}]", "trajectory step is not an object", entry)
                continue
            action, command, path, content = canonical(str(entry.get("action") or ""), entry.get("state"))
            ts, raw, basis, tz = parse_time(times.get(index), ctx.hints.timezone) if index in times else (None, None, "unknown", None)
            if basis == "local_assumed":
                basis = "derived"
            writer.add(Step(
                source_format=NAME, trajectory_id=trajectory_id, step=index, locator=f"traj:{trajectory_id} step:{index}",
                run_id=run_id, ts=ts, ts_raw=raw, ts_basis=basis, tz_assumed=tz, host=ctx.hints.host,
                action=action, tool=str(entry.get("action") or "").split(None, 1)[0] or None, command=command,
                arguments=json.dumps({"action": entry.get("action"), "execution_time": entry.get("execution_time")}),
                file_path=path, file_content=content, output=entry.get("observation"),
            ))
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME,
    description="SWE-agent .traj trajectories (steps with action/observation; times from a sibling .info.log)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"),
    sniff=sniff, parse=parse, extensions=(".traj",),
))
