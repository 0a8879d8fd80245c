"""``nvidia-smi -q -x`` XML (one document, or many from ``-l``): one ``gpu_samples`` row per GPU
with every leaf element kept in ``extra``, and its running and accounted processes in
``gpu_processes``. Old (``<power_readings>``) and new (``<gpu_power_readings>``) power elements
are both read. The ``<timestamp>`` is local ctime: converted with the zone hint, inferred.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.gpu.smi import parse_xml
from forensics.gpu.writer import GpuWriter, derive_entities
from forensics.registry import Parser, Sniff, register

DOCUMENT_END = re.compile(rb"</nvidia_smi_log\s*>")


def sniff(s: Sniff) -> float:
    return 0.95 if b"<nvidia_smi_log" in s.head[:4096] else 0.0


def parse(ctx: ParseContext) -> None:
    data = ctx.local_path.read_bytes()
    writer = GpuWriter(ctx)
    start = 0
    documents = 0
    for match in DOCUMENT_END.finditer(data):
        chunk = data[start:match.end()]
        line = data.count(b"\n", 0, start) + 1
        first = chunk.find(b"<")
        parse_xml(ctx, writer, chunk[first:] if first > 0 else chunk, line_offset=line)
        documents += 1
        start = match.end()
    rest = data[start:].strip()
    if rest:
        line = data.count(b"\n", 0, start) + 1
        ctx.warn(f"line:{line}", "trailing text after the last nvidia-smi XML document (truncated?)", rest[:200])
        if not documents:
            parse_xml(ctx, writer, rest)
    writer.close()
    derive_entities(ctx)


register(Parser(
    name="nvidia_smi_xml",
    description="nvidia-smi -q -x XML: GPUs with every field, running and accounted processes",
    tables=("gpu_samples", "gpu_processes", "entities"),
    sniff=sniff,
    parse=parse,
    extensions=(".xml",),
))
