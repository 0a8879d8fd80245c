"""nvidia-smi ``--query-gpu``, ``--query-compute-apps``, ``--query-accounted-apps`` and
``--query-retired-pages`` CSV (``--format=csv``, with or without units, looped with ``-l``).

Columns are found by header name; ``[N/A]`` and other bracketed notes are no value; every cell
that has no column of its own is kept in ``extra`` under its header. Stamps are local time
without a zone: converted with the file's time-zone hint and marked inferred.
"""

from __future__ import annotations

import os

from forensics.context import ParseContext
from forensics.gpu.smi import CsvFile, CsvSection, csv_kind, field_name, load_query_csv, split_header
from forensics.gpu.textlines import lines_relation_sql, scan_text
from forensics.gpu.writer import derive_entities
from forensics.registry import Parser, Sniff, register


def _header(lines: list[str]) -> tuple[int, str] | None:
    for number, line in enumerate(lines, start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            return number, line
    return None


def sniff(s: Sniff) -> float:
    found = _header(s.lines[:20])
    if not found or "," not in found[1]:
        return 0.0
    fields = [field_name(h) for h in split_header(found[1])]
    kind = csv_kind(fields)
    if kind is None:
        return 0.0
    return 0.9 if "timestamp" in fields or kind != "gpu" else 0.7


def parse(ctx: ParseContext) -> None:
    with ctx.open() as handle:
        head = handle.read(1 << 16).decode("utf-8", errors="replace").splitlines()
    found = _header(head)
    if not found:
        ctx.warn("line:1", "no nvidia-smi CSV header")
        return
    header_n, header = found
    scan = scan_text(ctx.local_path)
    if not scan.utf8:
        ctx.warn(None, "file is not valid UTF-8: read as Latin-1 so that no byte is lost")
    # DuckDB's CSV reader tokenises the file unless stray carriage returns would stop it.
    file = None
    if scan.line_end in ("lf", "crlf"):
        file = CsvFile(ctx.sql_path, encoding=None if scan.utf8 else "latin-1", blank_lines=tuple(scan.blank_lines),
                       size=os.path.getsize(ctx.local_path))
    section = CsvSection(header=header, header_n=header_n, lines_sql=lines_relation_sql(ctx, warn=False, scan=scan),
                         first_n=header_n + 1, file=file)
    load_query_csv(ctx, section)
    derive_entities(ctx, workload=False)  # no query field names a job, pod or container


register(Parser(
    name="nvidia_smi_csv",
    description="nvidia-smi --query-gpu / --query-compute-apps / --query-accounted-apps / --query-retired-pages CSV",
    tables=("gpu_samples", "gpu_processes", "gpu_events", "entities"),
    sniff=sniff,
    parse=parse,
    extensions=(".csv",),
    # One file per node and day is common: small files share a transaction (see BENCHMARKS.md).
    shared_commit_bytes=64 << 20,
))
