"""``promtool tsdb dump`` output: one sample a line, ``{__name__="DCGM_FI_DEV_GPU_UTIL", UUID="GPU-..."}
87 1771286400000`` (labels, value, millisecond time stamp), straight from a Prometheus TSDB
block copied off the monitoring host.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.gpu.prom import DUMP_RE, PromStage, stage_promtool
from forensics.gpu.textlines import lines_relation_sql
from forensics.gpu.writer import derive_entities
from forensics.registry import Parser, Sniff, register

LINE = re.compile(DUMP_RE)


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines[:20]
    if not lines:
        return 0.0
    matching = [line for line in lines if LINE.match(line) and "__name__=" in line]
    if len(matching) >= max(1, len(lines) // 2):
        return 0.9
    return 0.0


def parse(ctx: ParseContext) -> None:
    stage = PromStage(ctx)
    try:
        stage_promtool(ctx, stage, lines_relation_sql(ctx))
        stage.load()
        derive_entities(ctx, stage.identity_rows_sql())
    finally:
        stage.drop()


register(Parser(
    name="promtool_dump",
    description="promtool tsdb dump lines ({labels} value timestamp_ms) of GPU metrics",
    tables=("gpu_samples", "gpu_processes", "entities"),
    sniff=sniff,
    parse=parse,
))
