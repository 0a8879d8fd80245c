"""Capture bundles: one text file holding many nvidia-smi outputs, each section under a banner
that names the command (the nvidia_gpu_exporter capture layout, and the same layout written by
hand during an incident)::

    ################################################################################
    # load :: query-compute-apps (per-process)
    # $ nvidia-smi --query-compute-apps=timestamp,gpu_name,...,used_gpu_memory --format=csv
    ################################################################################
    timestamp, gpu_name, gpu_bus_id, gpu_serial, gpu_uuid, pid, process_name, used_gpu_memory [MiB]
    2026/07/14 08:12:53.500, NVIDIA H100 80GB HBM3, 00000000:00:09.0, ..., 11345, ./gpu_burn, 15690 MiB

Each telemetry section goes to the reader of its command (``--query-*`` CSV, ``pmon``, ``dmon``,
``-q -x``, ``-L``). pmon/dmon sections have no stamps: their rows start at the stamp of the
section before them (one sample a second, inferred). Help texts, topology and the human-readable
tables carry no samples; they are listed in one warning so nothing is skipped unseen. When the
bundle states its UTC collection time (``collected_at:``) and no zone hint is given, the local
zone offset is taken from it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from forensics.context import ParseContext
from forensics.gpu.smi import CsvSection, load_query_csv, parse_list, parse_monitor, parse_xml
from forensics.gpu.textlines import lines_relation_sql, read_text_lines
from forensics.gpu.writer import GpuWriter, derive_entities
from forensics.gpu.jobs import entity_rows
from forensics.registry import Parser, Sniff, register

BANNER = re.compile(r"^#{20,}\s*$")
LOCAL_STAMP = re.compile(r"(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?)")


def sniff(s: Sniff) -> float:
    banners = sum(1 for line in s.lines[:400] if BANNER.match(line))
    commands = sum(1 for line in s.lines[:4000] if line.startswith("# $ nvidia-smi"))
    if banners >= 2 and commands >= 1:
        return 0.95
    return 0.0


def sections(lines: list[str]) -> list[dict]:
    """[{title, command, start, end}] with start/end as 1-based line numbers of the content."""
    found: list[dict] = []
    i = 0
    while i < len(lines):
        if BANNER.match(lines[i]):
            j = i + 1
            meta: list[str] = []
            while j < len(lines) and lines[j].startswith("#") and not BANNER.match(lines[j]):
                meta.append(lines[j])
                j += 1
            if j < len(lines) and BANNER.match(lines[j]) and meta:
                title = next((m[1:].strip() for m in meta if not m.startswith("# $")), "")
                command = next((m[3:].strip() for m in meta if m.startswith("# $")), "")
                if found:
                    found[-1]["end"] = i + 1
                found.append({"title": title, "command": command, "start": j + 2, "end": len(lines) + 1,
                              "banner": i + 1})
                i = j + 1
                continue
            if found:
                found[-1]["end"] = i + 1
        i += 1
    return found


def section_kind(command: str) -> str | None:
    if "nvidia-smi" not in command:
        return None
    for flag, kind in (("--query-gpu", "gpu"), ("--query-compute-apps", "compute-apps"),
                       ("--query-accounted-apps", "accounted-apps"), ("--query-retired-pages", "retired-pages")):
        if flag in command:
            return kind
    words = command.split()
    if "pmon" in words:
        return "pmon"
    if "dmon" in words:
        return "dmon"
    if "-x" in words or "--xml-format" in words:
        return "xml"
    if "-L" in words or "--list-gpus" in words:
        return "list"
    return None


def zone_from_collected_at(lines: list[str]) -> str | None:
    """A zone name for the capture's local stamps, from its UTC ``collected_at`` line."""
    collected = next((l.split(":", 1)[1].strip() for l in lines[:40] if l.startswith("collected_at:")), None)
    stamp = next((m.group(1) for l in lines for m in [LOCAL_STAMP.search(l)] if m), None)
    if not collected or not stamp:
        return None
    try:
        utc = datetime.fromisoformat(collected.replace("Z", "+00:00")).astimezone(timezone.utc).replace(tzinfo=None)
        local = datetime.strptime(stamp.split(".")[0], "%Y/%m/%d %H:%M:%S")
    except ValueError:
        return None
    minutes = round((local - utc).total_seconds() / 60 / 15) * 15
    if abs((local - utc).total_seconds() - minutes * 60) > 300 or minutes % 60:
        return None
    hours = minutes // 60
    return "UTC" if hours == 0 else f"Etc/GMT{-hours:+d}"


def parse(ctx: ParseContext) -> None:
    lines = read_text_lines(ctx)
    zone = None if ctx.hints.timezone else zone_from_collected_at(lines)
    writer = GpuWriter(ctx, zone=zone)
    lines_sql = lines_relation_sql(ctx, warn=False)
    identities: dict[int, dict] = {}
    last_stamp: datetime | None = None
    skipped: list[str] = []
    monitor_sections: list[tuple[dict, str, datetime | None]] = []
    for section in sections(lines):
        kind = section_kind(section["command"])
        content = [(n, lines[n - 1]) for n in range(section["start"], min(section["end"], len(lines) + 1))]
        if kind in ("gpu", "compute-apps", "accounted-apps", "retired-pages"):
            header = next(((n, l) for n, l in content if l.strip()), None)
            if header is None:
                continue
            load_query_csv(ctx, CsvSection(header=header[1], header_n=header[0], lines_sql=lines_sql,
                                           first_n=header[0] + 1, end_n=section["end"]), kind=kind, zone=zone)
            stamps = [m.group(1) for _, l in content[1:] for m in [LOCAL_STAMP.match(l.strip())] if m]
            if stamps:
                last_stamp = datetime.strptime(stamps[-1].split(".")[0], "%Y/%m/%d %H:%M:%S")
        elif kind in ("pmon", "dmon"):
            monitor_sections.append((section, kind, last_stamp))
        elif kind == "xml":
            text = "\n".join(l for _, l in content).encode()
            parse_xml(ctx, writer, text, line_offset=section["start"])
        elif kind == "list":
            for gpu in parse_list(content):
                identities[gpu["index"]] = gpu
        else:
            skipped.append(f"{section['title'] or section['command']} (line {section['banner']})")
    # pmon/dmon number GPUs as the -L section of the same capture does: rows get its UUIDs.
    writer.uuid_by_index = {index: gpu["uuid"] for index, gpu in identities.items()}
    for section, kind, stamp in monitor_sections:
        content = [(n, lines[n - 1]) for n in range(section["start"], min(section["end"], len(lines) + 1))]
        parse_monitor(ctx, writer, content, start_local=stamp + timedelta(seconds=1) if stamp else None)
    if skipped:
        ctx.warn(None, f"{len(skipped)} capture sections hold no samples and were not loaded: " + "; ".join(skipped))
    writer.close()
    if identities:
        ctx.add_entities(entity_rows([{"kind": "gpu_uuid", "value": g["uuid"], "host": ctx.hints.host,
                           "attributes": {"index": g["index"], "index_kind": "nvml", "model": g["model"]},
                           "locator": g["locator"]} for g in identities.values()]))
    derive_entities(ctx)


register(Parser(
    name="nvidia_smi_capture",
    description="A text bundle of nvidia-smi outputs under '# $ nvidia-smi ...' banners (query CSVs, pmon, dmon, -q -x, -L)",
    tables=("gpu_samples", "gpu_processes", "gpu_events", "entities"),
    sniff=sniff,
    parse=parse,
))
