"""``dcgmi discovery -l``: the GPUs the DCGM host engine sees, with their DCGM ids, PCI bus ids and
UUIDs. Identity only (``entities``): it ties the ``GPU n`` rows of ``dcgmi dmon`` on the same
host to UUIDs.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.gpu.textlines import read_text_lines
from forensics.gpu.jobs import entity_rows
from forensics.registry import Parser, Sniff, register

ROW = re.compile(r"^\|\s*(\d+)?\s*\|\s*(.*?)\s*\|\s*$")


def sniff(s: Sniff) -> float:
    text = s.text[:8192]
    if re.search(r"^\d+ GPUs? found\.", text, re.M) and "Device Information" in text:
        return 0.95
    return 0.0


def parse(ctx: ParseContext) -> None:
    gpus: list[dict] = []
    current: dict | None = None
    for n, line in enumerate(read_text_lines(ctx), start=1):
        match = ROW.match(line)
        if not match:
            continue
        gpu_id, info = match.groups()
        if gpu_id is not None and gpu_id.isdigit() and "GPU ID" not in line:
            current = {"index": int(gpu_id), "locator": f"line:{n}"}
            gpus.append(current)
        if current is None or ":" not in info:
            continue
        key, _, value = info.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "name":
            current["model"] = value
        elif key == "pci bus id":
            current["pci_bus_id"] = value
        elif key == "device uuid":
            current["uuid"] = value
    rows = []
    for gpu in gpus:
        if not gpu.get("uuid"):
            ctx.warn(gpu["locator"], "GPU without a Device UUID line")
            continue
        rows.append({"kind": "gpu_uuid", "value": gpu["uuid"], "host": ctx.hints.host, "locator": gpu["locator"],
                     "attributes": {"index": gpu["index"], "index_kind": "dcgm", "pci_bus_id": gpu.get("pci_bus_id"),
                                    "model": gpu.get("model")}})
        if gpu.get("pci_bus_id"):
            rows.append({"kind": "pci_bus_id", "value": gpu["pci_bus_id"], "host": ctx.hints.host,
                         "locator": gpu["locator"],
                         "attributes": {"uuid": gpu["uuid"], "index": gpu["index"], "index_kind": "dcgm"}})
    if rows:
        ctx.add_entities(entity_rows(rows))


register(Parser(
    name="dcgmi_discovery",
    description="dcgmi discovery -l: DCGM GPU ids with PCI bus ids and UUIDs",
    tables=("entities",),
    sniff=sniff,
    parse=parse,
))
