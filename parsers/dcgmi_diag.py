"""``dcgmi diag -r N -j`` JSON: DCGM's diagnostic results (deployment checks, PCIe, memory,
stress tests), one ``gpu_events`` row (``dcgm_diag``) per test result per GPU with its status and
text. The report carries no time: ``--option diag_time=ISO-TIME`` dates it.
"""

from __future__ import annotations

import json
from datetime import datetime

from forensics.context import ParseContext
from forensics.gpu.writer import GpuWriter
from forensics.registry import Parser, Sniff, register


def sniff(s: Sniff) -> float:
    return 0.95 if '"DCGM GPU Diagnostic"' in s.text[:4096] else 0.0


def parse(ctx: ParseContext) -> None:
    raw = ctx.local_path.read_bytes()
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        ctx.warn(None, f"dcgmi diag output is not JSON: {exc}", raw[:200])
        return
    when = None
    if ctx.options.get("diag_time"):
        try:
            when = datetime.fromisoformat(ctx.options["diag_time"].replace("Z", "+00:00"))
        except ValueError:
            ctx.warn(None, "--option diag_time is not an ISO 8601 time", ctx.options["diag_time"])
    writer = GpuWriter(ctx)
    diag = doc.get("DCGM GPU Diagnostic", {}) if isinstance(doc, dict) else {}
    for c, category in enumerate(diag.get("test_categories", []) or []):
        for t, test in enumerate(category.get("tests", []) or []):
            for r, result in enumerate(test.get("results", []) or []):
                locator = f"test_categories[{c}].tests[{t}].results[{r}]"
                if not isinstance(result, dict):
                    ctx.warn(locator, "test result is not an object", json.dumps(result)[:200])
                    continue
                ids = [i.strip() for i in str(result.get("gpu_ids", "")).split(",") if i.strip().isdigit()] or [None]
                detail = f"{category.get('category')} / {test.get('name')}: {result.get('status')}"
                for key in ("info", "warnings", "error"):
                    if result.get(key):
                        detail += f"; {key}: {result[key]}"
                for gpu in ids:
                    writer.add("gpu_events", ts=when, ts_raw=None, ts_inferred=when is not None,
                               gpu_index=int(gpu) if gpu is not None else None, index_kind="dcgm" if gpu else None,
                               host=None, event="dcgm_diag", detail=detail, locator=locator)
    counts = writer.close()
    if not counts["gpu_events"]:
        ctx.warn(None, "no test results in the dcgmi diag output")


register(Parser(
    name="dcgmi_diag",
    description="dcgmi diag -j JSON: diagnostic test results per GPU",
    tables=("gpu_events",),
    sniff=sniff,
    parse=parse,
    extensions=(".json",),
))
