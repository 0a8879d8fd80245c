"""ROCK rocklet ``command.log``: the sandbox's own record of what ran (prefer it to what the model
claimed). Records start with ``{iso8601 with offset} {LEVEL}:{file}:{line} [{logger}]
[{sandbox_id}] [{trace_id}] -- {message}`` and may span several lines. Messages
``[run_in_session input][{session}]:{command}`` / ``[execute input]:{cmd}`` are commands (role
``sandbox``); the following ``output``/``stdout`` and ``exit_code`` records are their results."""

from __future__ import annotations

import re

from forensics.agent import analyse
from forensics.agent.steps import Step, StepWriter, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "rock_command_log"
_HEADER = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(\w+):(\S+)\s+"
                     r"\[([^\]]*)\]\s+\[([^\]]*)\]\s+\[([^\]]*)\]\s+--\s?(.*)$")
_BODY = re.compile(r"^\[(run_in_session|execute) (input|output|stdout|stderr|exit_code|failure_reason)\](?:\[([^\]]*)\])?:?\s?(.*)$", re.S)


def sniff(s: Sniff) -> float:
    hits = sum(1 for line in s.first_nonblank_lines[:20] if _HEADER.match(line) and "--" in line)
    return 0.9 if hits and ("[run_in_session" in s.text or "[execute " in s.text or "_session]" in s.text) else 0.0


def _records(ctx: ParseContext):
    current = None
    with open(ctx.local_path, "r", encoding="utf-8", errors="replace") as handle:
        for n, line in enumerate(handle, start=1):
            m = _HEADER.match(line.rstrip("\n"))
            if m:
                if current:
                    yield current
                current = {"line": n, "ts": m.group(1), "sandbox": m.group(5) or None, "trace": m.group(6),
                           "msg": m.group(7)}
            elif current is not None:
                current["msg"] += "\n" + line.rstrip("\n")
            elif line.strip():
                ctx.warn(f"line:{n}", "text before the first record header", line[:200])
    if current:
        yield current


def parse(ctx: ParseContext) -> None:
    writer = StepWriter(ctx)
    open_steps: dict[tuple, Step] = {}
    counters: dict[str, int] = {}
    tz = ctx.hints.timezone or "Asia/Shanghai"  # rocklet's default ROCK_TIME_ZONE
    for rec in _records(ctx):
        body = _BODY.match(rec["msg"])
        if not body:
            continue
        kind, part, session, text = body.groups()
        key = (rec["sandbox"], session or kind)
        if part == "input":
            if key in open_steps:
                writer.add(open_steps.pop(key))
            trajectory = rec["sandbox"] or "sandbox"
            counters[trajectory] = counters.get(trajectory, 0) + 1
            ts, raw, basis, assumed = parse_time(rec["ts"], tz)
            open_steps[key] = Step(source_format=NAME, trajectory_id=trajectory, step=counters[trajectory],
                                   locator=f"line:{rec['line']}", ts=ts, ts_raw=raw, ts_basis=basis, tz_assumed=assumed,
                                   sandbox=rec["sandbox"], host=ctx.hints.host, role="sandbox", action="exec",
                                   tool=kind if not session else f"{kind}[{session}]", command=text.strip(),
                                   arguments=None)
        elif key in open_steps:
            step = open_steps[key]
            if part in ("output", "stdout", "stderr"):
                step.output = ((step.output + "\n") if step.output else "") + text
            elif part == "exit_code":
                try:
                    step.exit_code = int(text.strip())
                except ValueError:
                    ctx.warn(f"line:{rec['line']}", "exit code is not a number", text[:80])
                step.ts_end = parse_time(rec["ts"], tz)[0]
                writer.add(open_steps.pop(key))
    for step in open_steps.values():
        writer.add(step)
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="ROCK rocklet command.log (commands the sandbox actually ran, with output and exit codes)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".log",),
))
