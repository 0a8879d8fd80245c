"""Prometheus HTTP API exports of GPU metrics: ``/api/v1/query_range`` matrices (and
``/api/v1/query`` vectors) as saved JSON, and VictoriaMetrics-style JSON lines
(``{"metric": {...}, "values": [...], "timestamps": [...]}``).

The document is never loaded whole: series are cut out of the file and read as JSON lines,
so a 24-hour export of a thousand GPUs streams in bounded memory. Sample values are strings
(``"NaN"`` is no value); times are Unix seconds. Overlapping chunks are de-duplicated on
(labels, time). An expression result without ``__name__`` takes ``--option prom_metric=NAME``.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.gpu.prom import PromStage, stage_range, stage_vm_jsonl
from forensics.gpu.writer import derive_entities
from forensics.registry import Parser, Sniff, register

MATRIX = re.compile(r'"resultType"\s*:\s*"(matrix|vector)"')
VM_LINE = re.compile(r'^\s*\{\s*"metric"\s*:\s*\{.*"timestamps"\s*:', re.S)


def sniff(s: Sniff) -> float:
    head = s.text[:8192]
    if MATRIX.search(head) and '"result"' in head:
        return 0.95
    first = s.first_nonblank_lines[0] if s.first_nonblank_lines else ""
    if VM_LINE.match(first):
        return 0.9
    return 0.0


def parse(ctx: ParseContext) -> None:
    stage = PromStage(ctx)
    with ctx.open() as handle:
        head = handle.read(8192).decode("utf-8", errors="replace")
    try:
        if MATRIX.search(head) or '"result"' in head:
            stage_range(ctx, stage)
        else:
            stage_vm_jsonl(ctx, stage)
        if ctx.con.execute(
                f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{stage.points}'").fetchall()[0][0]:
            stage.load()
            derive_entities(ctx, stage.identity_rows_sql())
    finally:
        stage.drop()


register(Parser(
    name="prometheus_range",
    description="Prometheus query_range/query JSON exports and VictoriaMetrics JSON lines of GPU metrics",
    tables=("gpu_samples", "gpu_processes", "entities"),
    sniff=sniff,
    parse=parse,
    extensions=(".json", ".jsonl"),
))
