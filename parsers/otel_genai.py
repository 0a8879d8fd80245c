"""OpenTelemetry GenAI spans exported as OTLP JSON (``resourceSpans[].scopeSpans[].spans[]``, one
export per line or one document). ``execute_tool`` spans (``gen_ai.operation.name``) with
``gen_ai.tool.name``, ``gen_ai.tool.call.arguments`` and ``gen_ai.tool.call.result`` become steps;
the trajectory is ``gen_ai.conversation.id`` or the trace id; times are the span's epoch
nanoseconds. ``host.name`` and ``container.id`` resource attributes give the host."""

from __future__ import annotations

import json
from typing import Any

from forensics.agent import analyse
from forensics.agent.steps import Step, StepWriter, canonical_action, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "otel_genai"


def sniff(s: Sniff) -> float:
    text = s.text[:65536]
    return 0.9 if '"resourceSpans"' in text and "gen_ai." in text else 0.0


def _attrs(items: Any) -> dict[str, Any]:
    out = {}
    for item in items or []:
        if isinstance(item, dict) and "key" in item:
            value = item.get("value") or {}
            out[item["key"]] = next(iter(value.values()), None) if isinstance(value, dict) and value else None
    return out


def _documents(ctx: ParseContext):
    raw = ctx.local_path.read_bytes().decode("utf-8", "replace")
    try:
        yield "document", json.loads(raw)
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
    counters: dict[str, int] = {}
    spans = []
    for where, doc in _documents(ctx):
        for resource in (doc or {}).get("resourceSpans") or []:
            res = _attrs((resource.get("resource") or {}).get("attributes"))
            for scope in resource.get("scopeSpans") or []:
                for span in scope.get("spans") or []:
                    attrs = _attrs(span.get("attributes"))
                    if attrs.get("gen_ai.operation.name") != "execute_tool" and not str(span.get("name", "")).startswith("execute_tool"):
                        continue
                    spans.append((int(span.get("startTimeUnixNano") or 0), where, span, attrs, res))
    for start, where, span, attrs, res in sorted(spans, key=lambda x: x[0]):
        trajectory = str(attrs.get("gen_ai.conversation.id") or span.get("traceId"))
        counters[trajectory] = counters.get(trajectory, 0) + 1
        tool = attrs.get("gen_ai.tool.name") or str(span.get("name", "")).replace("execute_tool ", "")
        action = canonical_action(tool, attrs.get("gen_ai.tool.call.arguments"))
        ts = parse_time(start / 1e9, None)[0] if start else None
        end = int(span.get("endTimeUnixNano") or 0)
        writer.add(Step(source_format=NAME, trajectory_id=trajectory, step=counters[trajectory],
                        locator=f"{where} span:{span.get('spanId')}", ts=ts, ts_raw=str(start or ""),
                        ts_basis="absolute" if ts else "unknown", ts_end=parse_time(end / 1e9, None)[0] if end else None,
                        host=res.get("host.name") or ctx.hints.host, container_id=res.get("container.id"),
                        sandbox=attrs.get("sandbox.id") or res.get("sandbox.id"),
                        run_id=attrs.get("gen_ai.agent.id") or res.get("service.name"), tool=tool,
                        tool_call_id=attrs.get("gen_ai.tool.call.id"), action=action.action, command=action.command,
                        file_path=action.file_path, file_content=action.file_content,
                        arguments=attrs.get("gen_ai.tool.call.arguments"), output=attrs.get("gen_ai.tool.call.result"),
                        model=attrs.get("gen_ai.request.model")))
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="OpenTelemetry GenAI execute_tool spans (OTLP JSON)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".json", ".jsonl"),
))
