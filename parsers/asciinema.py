"""asciinema terminal recordings (asciicast v1 JSON, v2 and v3 NDJSON).

Commands are reconstructed from the keystrokes (``i`` events) when the recording has them, and
otherwise from the echoed output: escape sequences are stripped, carriage returns and backspaces
applied, and a line that starts with a shell prompt (``$``, ``#``, ``%``, ``>``, ``❯`` after an
optional user@host:path) is a command whose output runs to the next prompt. Times are the
header's ``timestamp`` plus the event offset (v2: seconds since start; v1 and v3: intervals, summed);
without a header timestamp they are offsets only (``ts_basis = 'unknown'``). This is the weakest
evidence kind: what was typed is inferred from what the terminal showed.
"""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta

from forensics.agent import analyse
from forensics.agent.steps import Step, StepWriter, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "asciinema"
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Za-z0-9]|\x1b[=>NOM78c]")
_PROMPT = re.compile(r"^(?:\([^)]*\)\s*)?(?:[\w.-]+@[\w.-]+(?::[^\s$#%>]*)?\s?|[~/][^\s$#%>]*\s?)?[$#%>❯]\s+(\S.*)$")


def sniff(s: Sniff) -> float:
    first = s.first_nonblank_lines[0] if s.first_nonblank_lines else ""
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if isinstance(header, dict) and header.get("version") in (2, 3) and ("width" in header or "term" in header):
        return 0.95
    head = s.text[:4096]
    if re.search(r'"version"\s*:\s*1', head) and '"stdout"' in s.text[:65536]:
        return 0.9
    return 0.0


def _events(ctx: ParseContext):
    """(header, [(seconds since start, code, data)])."""
    text = ctx.local_path.read_bytes().decode("utf-8", "replace")
    stripped = text.lstrip()
    try:
        doc = json.loads(stripped)
        if isinstance(doc, dict) and doc.get("version") == 1:
            t, events = 0.0, []
            for item in doc.get("stdout") or []:
                if isinstance(item, list) and len(item) >= 2:
                    t += float(item[0] or 0)
                    events.append((t, "o", str(item[1] or "")))
            return doc, events
    except ValueError:
        pass
    lines = text.splitlines()
    header = {}
    events = []
    t = 0.0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            ctx.warn(f"line:{n}", "truncated or invalid JSON line", line[:200])
            continue
        if n == 1 and isinstance(item, dict):
            header = item
            continue
        if not (isinstance(item, list) and len(item) >= 3):
            ctx.warn(f"line:{n}", "event is not [time, code, data]", line[:200])
            continue
        offset = float(item[0] or 0)
        t = t + offset if header.get("version") == 3 else offset
        events.append((t, str(item[1]), str(item[2] or "")))
    return header, events


def _screen_lines(events):
    """Output as (time, line) after stripping escapes and applying \\r and backspace."""
    out = []
    current, started = "", None
    for t, code, data in events:
        if code != "o":
            continue
        data = _ANSI.sub("", data)
        for ch in data:
            if started is None:
                started = t
            if ch == "\n":
                out.append((started, current))
                current, started = "", None
            elif ch == "\r":
                current = current if data.endswith("\r\n") else ""
            elif ch in ("\b", "\x7f"):
                current = current[:-1]
            elif ch >= " " or ch == "\t":
                current += ch
    if current:
        out.append((started, current))
    return out


def parse(ctx: ParseContext) -> None:
    header, events = _events(ctx)
    start = header.get("timestamp")
    start_ts = parse_time(start, "UTC")[0] if start else None
    trajectory_id = os.path.splitext(os.path.basename(ctx.path))[0]
    commands: list[tuple[float, str, str]] = []
    typed = [e for e in events if e[1] == "i"]
    if typed:
        buf, began = "", None
        for t, _, data in typed:
            for ch in data:
                if began is None:
                    began = t
                if ch in "\r\n":
                    if buf.strip():
                        commands.append((began, buf.strip(), ""))
                    buf, began = "", None
                elif ch in ("\b", "\x7f"):
                    buf = buf[:-1]
                elif ch >= " ":
                    buf += ch
    else:
        lines = _screen_lines(events)
        for t, line in lines:
            m = _PROMPT.match(line.strip())
            if m:
                commands.append((t, m.group(1).strip(), ""))
            elif commands:
                t0, cmd, out = commands[-1]
                commands[-1] = (t0, cmd, (out + "\n" + line) if out else line)
    # terminal replies (cursor reports, device attributes) echoed without their ESC byte
    commands = [(t, re.sub(r"\[[0-9;>?]*[A-Za-z]", "", c).strip(), o) for t, c, o in commands]
    commands = [c for c in commands if c[1]]
    writer = StepWriter(ctx)
    for index, (t, command, output) in enumerate(commands, start=1):
        ts = start_ts + timedelta(seconds=t) if start_ts else None
        writer.add(Step(source_format=NAME, trajectory_id=trajectory_id, step=index,
                        locator=f"traj:{trajectory_id} t:{t:.3f}", ts=ts, ts_raw=f"+{t:.6f}s",
                        ts_basis="absolute" if ts else "unknown", host=ctx.hints.host, role="terminal",
                        action="exec", tool="terminal", command=command, output=output or None))
    if not commands and events:
        ctx.warn(None, "no command could be reconstructed from the recording", None)
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME,
    description="asciinema recordings (asciicast v1/v2/v3): typed commands and output with times",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"),
    sniff=sniff, parse=parse, extensions=(".cast", ".json"),
))
