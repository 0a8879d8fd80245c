"""Slurm job records: ``sacct -P`` (pipe-separated, with its header) and ``scontrol show job -d``.

sacct gives each job's user, nodes, times and allocated TRES (``gres/gpu=8``); it has no
per-node GPU indices. ``scontrol show job -d`` does (``Nodes=gpu-node-03 ... GRES=gpu:h100:8(IDX:0-7)``):
each index becomes an ``entities`` row (kind ``gpu_index``, the node, the job, the job's time
span), which the ``gpu_job_owner`` view resolves to a GPU UUID through the node's minor
numbers. Times written as epochs (``SLURM_TIME_FORMAT=%s``) are UTC; local ISO times take the
zone hint and are marked inferred.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from forensics.context import ParseContext
from forensics.gpu.jobs import entity_rows, expand_hostlist, expand_indexes
from forensics.gpu.textlines import read_text_lines
from forensics.registry import Parser, Sniff, register

SACCT_HEADER = re.compile(r"^JobID(Raw)?\|", re.I)
SCONTROL_START = re.compile(r"^\s*JobId=(\S+)")
KEY_VALUE = re.compile(r"(\S+?)=(\S*)")
GRES_IDX = re.compile(r"gpu[^()\s]*\(IDX:([0-9,\-]+)\)")


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines
    if lines and SACCT_HEADER.match(lines[0]) and "|" in lines[0]:
        return 0.9
    if lines and SCONTROL_START.match(lines[0]) and "JobName=" in lines[0]:
        return 0.9
    return 0.0


def slurm_time(value: str | None, zone: str | None) -> tuple[datetime | None, bool]:
    """(UTC time, inferred) from a Slurm stamp: an epoch, or local ISO time without a zone."""
    if not value or value in ("Unknown", "None", "N/A", "(null)"):
        return None, False
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=timezone.utc), False
    try:
        local = datetime.fromisoformat(value)
    except ValueError:
        return None, False
    if local.tzinfo is not None:
        return local.astimezone(timezone.utc), False
    return local.replace(tzinfo=ZoneInfo(zone or "UTC")).astimezone(timezone.utc), True


def parse_sacct(ctx: ParseContext, lines: list[str]) -> None:
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter="|", quoting=csv.QUOTE_NONE)
    header = next(reader)
    rows = []
    for number, values in enumerate(reader, start=2):
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(header):
            ctx.warn(f"line:{number}", f"sacct row has {len(values)} fields, the header has {len(header)}",
                     "|".join(values))
            continue
        record = dict(zip(header, values))
        job_id = record.get("JobID") or record.get("JobIDRaw")
        if not job_id:
            ctx.warn(f"line:{number}", "sacct row without a JobID", "|".join(values))
            continue
        start, inferred_a = slurm_time(record.get("Start"), ctx.hints.timezone)
        end, inferred_b = slurm_time(record.get("End"), ctx.hints.timezone)
        parent = job_id.split(".", 1)[0]
        kind = "job" if "." not in job_id else "job_step"
        attributes = {k: v for k, v in record.items() if v not in ("", None)}
        attributes["times_inferred"] = inferred_a or inferred_b
        gpus = re.search(r"gres/gpu=(\d+)", record.get("AllocTRES", ""))
        if gpus:
            attributes["gpus"] = int(gpus.group(1))
        rows.append({"kind": kind, "value": job_id, "job": parent, "valid_from": start, "valid_to": end,
                     "attributes": attributes, "locator": f"line:{number}"})
        if kind == "job":
            for host in expand_hostlist(record.get("NodeList", "")):
                rows.append({"kind": "job_node", "value": host, "host": host, "job": parent, "valid_from": start,
                             "valid_to": end, "attributes": {"gpus": attributes.get("gpus")},
                             "locator": f"line:{number}"})
    if rows:
        ctx.add_entities(entity_rows(rows))


def parse_scontrol(ctx: ParseContext, lines: list[str]) -> None:
    rows = []
    job: dict[str, str] = {}
    job_line = 0

    def flush() -> None:
        if not job:
            return
        start, inferred_a = slurm_time(job.get("StartTime"), ctx.hints.timezone)
        end, inferred_b = slurm_time(job.get("EndTime"), ctx.hints.timezone)
        if job.get("JobState") == "RUNNING":
            end = None  # EndTime of a running job is its time limit, not an end
        job_id = job["JobId"]
        rows.append({"kind": "job", "value": job_id, "job": job_id, "valid_from": start, "valid_to": end,
                     "attributes": {k: v for k, v in job.items() if not k.startswith("_")},
                     "locator": f"line:{job_line}"})
        for host, idx, gres, number in job.get("_gpus", []):
            rows.append({"kind": "gpu_index", "value": str(idx), "host": host, "job": job_id,
                         "valid_from": start, "valid_to": end,
                         "attributes": {"index": idx, "index_kind": "slurm_idx", "gres": gres,
                                        "times_inferred": inferred_a or inferred_b},
                         "locator": f"line:{number}"})

    for number, line in enumerate(lines, start=1):
        match = SCONTROL_START.match(line)
        if match:
            flush()
            job = {}
            job_line = number
        if not job and not match:
            if line.strip():
                ctx.warn(f"line:{number}", "text before the first JobId=", line)
            continue
        pairs = KEY_VALUE.findall(line)
        if line.strip().startswith("Nodes=") and "GRES=" in line:
            fields = dict(pairs)
            gres = fields.get("GRES", "")
            for idx_text in GRES_IDX.findall(gres):
                for host in expand_hostlist(fields.get("Nodes", "")):
                    for idx in expand_indexes(idx_text):
                        job.setdefault("_gpus", []).append((host, idx, gres, number))
            continue
        for key, value in pairs:
            job.setdefault(key, value)
    flush()
    if rows:
        ctx.add_entities(entity_rows(rows))


def parse(ctx: ParseContext) -> None:
    lines = [line for line in read_text_lines(ctx)]
    first = next((line for line in lines if line.strip()), "")
    if SACCT_HEADER.match(first):
        start = lines.index(first)
        parse_sacct(ctx, lines[start:])
    else:
        parse_scontrol(ctx, lines)


register(Parser(
    name="slurm",
    description="Slurm sacct -P output and scontrol show job -d text: jobs, nodes and GPU indexes per node",
    tables=("entities",),
    sniff=sniff,
    parse=parse,
))
