"""``nvidia-smi pmon`` (per-process) and ``dmon`` (per-device) monitor text.

Columns are found from the ``# gpu ...`` header (driver 590 adds jpg/ofa; ``-s um`` adds fb;
``-o DT`` adds Date and Time); ``-`` is no value. Without Date/Time columns the rows have no
time of their own: ``--option smi_start=ISO-TIME`` (local time unless it carries a zone) and
``--option smi_interval_s=N`` (default 1, the -d delay) rebuild it, marked inferred.
"""

from __future__ import annotations

from datetime import datetime, timezone

from forensics.context import ParseContext
from forensics.gpu.smi import is_monitor_header, parse_monitor
from forensics.gpu.textlines import read_text_lines
from forensics.gpu.writer import GpuWriter, derive_entities
from forensics.registry import Parser, Sniff, register


def sniff(s: Sniff) -> float:
    for line in s.first_nonblank_lines[:10]:
        if is_monitor_header(line):
            return 0.9
    return 0.0


def start_option(ctx: ParseContext) -> tuple[datetime | None, datetime | None, float]:
    """(start as local time, start as UTC, interval) from --option smi_start / smi_interval_s."""
    raw = ctx.options.get("smi_start")
    interval = float(ctx.options.get("smi_interval_s", "1") or 1)
    if not raw:
        return None, None, interval
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        ctx.warn(None, "--option smi_start is not an ISO 8601 time", raw)
        return None, None, interval
    if start.tzinfo is None:
        return start, None, interval
    return None, start.astimezone(timezone.utc), interval


def parse(ctx: ParseContext) -> None:
    start_local, start_utc, interval = start_option(ctx)
    writer = GpuWriter(ctx)
    lines = read_text_lines(ctx)
    parse_monitor(ctx, writer, enumerate(lines, start=1), start_local=start_local, start_utc=start_utc,
                  interval_s=interval)
    writer.close()
    derive_entities(ctx)


register(Parser(
    name="nvidia_smi_monitor",
    description="nvidia-smi pmon (per-process) and dmon (per-device) monitor output",
    tables=("gpu_samples", "gpu_processes", "entities"),
    sniff=sniff,
    parse=parse,
))
