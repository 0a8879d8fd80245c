"""Inspect AI evaluation logs: ``.eval`` (a zip: ``header.json``, ``samples/{id}_epoch_{n}.json``,
or the newer chunked samples under ``samples/{id}_epoch_{n}/``) and the ``.json`` log format (one
object with ``eval`` and ``samples[]``).

Each sample is one trajectory: its messages (``tool_calls`` with ``function`` and an
``arguments`` object; Inspect's bash tool takes ``cmd``) become steps, their times come from the
sample's ``tool`` events (UTC ISO, matched by call id), and the ``sandbox`` ``exec`` events — what
the sandbox actually ran — are added as ``role = 'sandbox'`` steps.

The archive is read in place, member by member, never extracted: member names are only matched,
never used as paths; a member whose declared size or compression ratio is out of bounds (a zip
bomb) is skipped with a warning, and reading stops at the size limit whatever the header says.
"""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any

from forensics.agent import analyse
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import Step, StepWriter, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "inspect_ai"
MAX_MEMBER = 256 * 1024 * 1024
MAX_RATIO = 200
_SAMPLE = re.compile(r"^samples/[^/]+\.json$")


def sniff(s: Sniff) -> float:
    if s.is_zip:
        names = set(s.zip_members)
        if "header.json" in names or "_journal/start.json" in names:
            if any(n.startswith("samples/") for n in names) or "header.json" in names:
                return 0.95
        return 0.0
    head = s.text[:65536]
    if head.lstrip().startswith("{") and '"eval"' in head and ('"samples"' in head or '"task"' in head) \
            and '"plan"' in head:
        return 0.9
    return 0.0


def _read_member(ctx: ParseContext, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    name = info.filename
    if info.file_size > MAX_MEMBER or (info.compress_size and info.file_size / max(info.compress_size, 1) > MAX_RATIO
                                       and info.file_size > 1024 * 1024):
        ctx.warn(f"member:{name}", f"archive member declares {info.file_size} bytes from {info.compress_size} "
                 f"(zip bomb?); skipped", None)
        return None
    with archive.open(info) as handle:
        data = handle.read(MAX_MEMBER + 1)
    if len(data) > MAX_MEMBER:
        ctx.warn(f"member:{name}", "archive member inflates past its declared size limit; skipped", None)
        return None
    return data


def _json_member(ctx: ParseContext, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    raw = _read_member(ctx, archive, info)
    if raw is None:
        return None
    try:
        return json.loads(raw.decode("utf-8", "replace"))
    except ValueError as exc:
        ctx.warn(f"member:{info.filename}", f"invalid JSON: {exc}", raw[:200])
        return None


def _chunked_sample(ctx: ParseContext, archive: zipfile.ZipFile, by_name: dict[str, zipfile.ZipInfo],
                    prefix: str) -> dict | None:
    """A "chunked" sample (newer Inspect, ``log/_recorders/chunked``) put back together as the
    single-entry sample it stands for: ``sample.json`` (the shell, with ``message_refs`` as
    ``[start, end)`` ranges into the message pool), the ``messages/``, ``events/`` and
    ``attachments/`` sequences (chunk files named by their first index, read in index order), and
    ``attachment://<index>`` references into the attachments sequence."""
    if prefix + "sample.json" not in by_name:
        ctx.warn(f"member:{prefix}", "chunked sample without its sample.json; skipped", None)
        return None
    shell = _json_member(ctx, archive, by_name[prefix + "sample.json"])
    if not isinstance(shell, dict):
        return None

    def sequence(name: str) -> list:
        starts = sorted(int(n[len(prefix) + len(name) + 1:-5]) for n in by_name
                        if n.startswith(f"{prefix}{name}/") and n.endswith(".json")
                        and n[len(prefix) + len(name) + 1:-5].isdigit())
        items: list = []
        for start in starts:
            member = f"{prefix}{name}/{start}.json"
            chunk = _json_member(ctx, archive, by_name[member])
            if not isinstance(chunk, list):
                ctx.warn(f"member:{member}", "chunk is not a JSON list; skipped", None)
                continue
            if start != len(items):
                ctx.warn(f"member:{member}", f"chunk starts at {start} but {len(items)} items precede it", None)
            items.extend(chunk)
        return items

    sample = dict(shell)
    pool = sequence("messages")
    messages = []
    for ref in sample.pop("message_refs", None) or []:
        if isinstance(ref, list) and len(ref) == 2 and all(isinstance(v, int) for v in ref):
            messages.extend(pool[ref[0]:ref[1]])
    sample["messages"] = messages
    sample["events"] = sequence("events")
    # attachments are addressed by index here (attachment://<index>), by hash in single-entry samples
    sample["attachments"] = {str(i): text for i, text in enumerate(sequence("attachments"))}
    return sample


def _sample_steps(ctx: ParseContext, sample: dict, task: str | None, model: str | None, writer: StepWriter,
                  locator: str) -> None:
    trajectory_id = f"{task or 'task'}:{sample.get('id')}:epoch{sample.get('epoch', 1)}"
    attachments = sample.get("attachments") or {}

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith(("attachment://", "tc://")):
            return attachments.get(value.split("://", 1)[1], value)
        return value

    tool_times: dict[str, Any] = {}
    for event in sample.get("events") or []:
        if isinstance(event, dict) and event.get("event") == "tool" and event.get("id"):
            tool_times[str(event["id"])] = event.get("timestamp")
    messages = []
    for message in sample.get("messages") or []:
        if isinstance(message, dict):
            message = dict(message)
            message["content"] = resolve(message.get("content"))
            calls = []
            for call in message.get("tool_calls") or []:
                if isinstance(call, dict):
                    call = dict(call)
                    call["arguments"] = {k: resolve(v) for k, v in (call.get("arguments") or {}).items()} \
                        if isinstance(call.get("arguments"), dict) else call.get("arguments")
                    if call.get("id") in tool_times:
                        message.setdefault("timestamp", tool_times[call["id"]])
                    calls.append(call)
            if calls:
                message["tool_calls"] = calls
        messages.append(message)
    meta = TrajectoryMeta(NAME, trajectory_id, run_id=task, host=ctx.hints.host, model=model,
                          locator_prefix=f"{locator} traj:{trajectory_id} ")
    steps_from_messages(messages, meta, writer, tz_hint="UTC", warn=ctx.warn)
    turn = 0
    for index, event in enumerate(sample.get("events") or []):
        if isinstance(event, dict) and event.get("event") == "sandbox" and event.get("action") == "exec":
            turn += 1
            ts, raw, basis, tz = parse_time(event.get("timestamp"), "UTC")
            writer.add(Step(source_format=NAME, trajectory_id=trajectory_id, step=turn, run_id=task,
                            locator=f"{locator} traj:{trajectory_id} event:{index}", ts=ts, ts_raw=raw,
                            ts_basis=basis, tz_assumed=tz, host=ctx.hints.host, role="sandbox", action="exec",
                            tool="sandbox.exec", command=" ".join(map(str, event.get("cmd") or []))
                            if isinstance(event.get("cmd"), list) else event.get("cmd"),
                            output=resolve(event.get("output")),
                            exit_code=event.get("result") if isinstance(event.get("result"), int) else None,
                            ts_end=parse_time(event.get("completed"), "UTC")[0], model=model))


def parse(ctx: ParseContext) -> None:
    writer = StepWriter(ctx)
    if zipfile.is_zipfile(ctx.local_path):
        with zipfile.ZipFile(ctx.local_path) as archive:
            infos = archive.infolist()
            for info in infos:
                parts = info.filename.replace("\\", "/").split("/")
                if info.filename.startswith(("/", "\\")) or ".." in parts:
                    ctx.warn(f"member:{info.filename}", "archive member with an absolute or parent path "
                             "(never extracted; ignored)", info.filename)
            infos = [i for i in infos if ".." not in i.filename.replace("\\", "/").split("/")
                     and not i.filename.startswith(("/", "\\"))]
            header: dict = {}
            by_name = {i.filename: i for i in infos}
            if "header.json" in by_name:
                raw = _read_member(ctx, archive, by_name["header.json"])
                header = json.loads(raw) if raw else {}
            elif "_journal/start.json" in by_name:
                raw = _read_member(ctx, archive, by_name["_journal/start.json"])
                header = json.loads(raw) if raw else {}
            task = (header.get("eval") or {}).get("task")
            model = (header.get("eval") or {}).get("model")
            chunked = sorted({i.filename.split("/")[1] for i in infos
                              if i.filename.startswith("samples/") and i.filename.count("/") >= 2})
            for name in chunked:
                sample = _chunked_sample(ctx, archive, by_name, f"samples/{name}/")
                if sample is not None:
                    _sample_steps(ctx, sample, task, model, writer, f"member:samples/{name}/")
            for info in sorted((i for i in infos if _SAMPLE.match(i.filename)), key=lambda i: i.filename):
                raw = _read_member(ctx, archive, info)
                if raw is None:
                    continue
                try:
                    sample = json.loads(raw.decode("utf-8", "replace"))
                except ValueError as exc:
                    ctx.warn(f"member:{info.filename}", f"invalid JSON: {exc}", raw[:200])
                    continue
                _sample_steps(ctx, sample, task, model, writer, f"member:{info.filename}")
    else:
        try:
            doc = json.loads(ctx.local_path.read_bytes().decode("utf-8", "replace"))
        except ValueError as exc:
            ctx.warn(None, f"invalid JSON: {exc}", None)
            return
        task = (doc.get("eval") or {}).get("task")
        model = (doc.get("eval") or {}).get("model")
        for index, sample in enumerate(doc.get("samples") or []):
            if isinstance(sample, dict):
                _sample_steps(ctx, sample, task, model, writer, f"samples[{index}]")
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME,
    description="Inspect AI logs (.eval zip read in place, and .json): sample messages, tool and sandbox events",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"),
    sniff=sniff, parse=parse, accepts_zip=True, extensions=(".eval", ".json"),
))
