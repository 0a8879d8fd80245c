"""Prometheus exposition text from dcgm-exporter (``DCGM_FI_*``, 1.x ``dcgm_*`` names) and
nvidia_gpu_exporter (``nvidia_smi_*``): one ``/metrics`` scrape, or a file of scrapes.

A file of scrapes is either lines that carry Prometheus' optional millisecond stamp, or scrapes
separated by a line holding a time (``# 2026-02-17T02:00:00Z``, ``date -Is`` output, an epoch).
One scrape without any stamp has no time of its own: ``--option scrape_time=ISO-TIME`` places it.
Workload labels (pod, namespace, container, hpc_job) go to the rows and to ``entities``.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.gpu.prom import PromStage, stage_exposition
from forensics.gpu.textlines import lines_relation_sql
from forensics.gpu.writer import derive_entities
from forensics.registry import Parser, Sniff, register

GPU_METRIC = re.compile(r"^(DCGM_FI_\w+|DCGM_EXP_\w+|dcgm_\w+|nvidia_smi_\w+)(\{|\s)", re.M)


def sniff(s: Sniff) -> float:
    text = s.text[:65536]
    samples = len(GPU_METRIC.findall(text))
    if samples >= 1 and ("# TYPE " in text or "# HELP " in text or samples >= 3):
        return 0.9
    return 0.0


def parse(ctx: ParseContext) -> None:
    stage = PromStage(ctx)
    try:
        stage_exposition(ctx, stage, lines_relation_sql(ctx))
        stage.load()
        derive_entities(ctx, stage.identity_rows_sql())
    finally:
        stage.drop()


register(Parser(
    name="dcgm_exporter",
    description="dcgm-exporter / nvidia_gpu_exporter Prometheus exposition text (one scrape or many, time-stamped)",
    tables=("gpu_samples", "gpu_processes", "entities"),
    sniff=sniff,
    parse=parse,
))
