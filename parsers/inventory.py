"""The cluster inventory (YAML): hosts, their addresses and zones, GPUs, jobs, sandboxes, networks.

Firewalls see IPs, telemetry sees GPU UUIDs, transcripts see sandboxes: the inventory ties them
to hosts and jobs. It is evidence like any other file (hashed, registered) and fills ``entities``.
The format is documented in README.md ("Inventory"); a minimal file::

    kind: cluster-forensics/inventory
    version: 1
    timezone: Asia/Shanghai
    hosts:
      - name: gpu-node-01
        ips: [10.20.1.11]
"""

from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timezone
from typing import Any

import yaml

from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

MARKER = "cluster-forensics/inventory"
TOP_LEVEL = {"kind", "version", "timezone", "year", "networks", "hosts", "jobs", "sandboxes", "evidence"}
HOST_KEYS = {"name", "role", "ips", "public_ips", "timezone", "gpus", "aliases", "description"}


def sniff(s: Sniff) -> float:
    if MARKER in s.text[:4096]:
        return 1.0
    return 0.0


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value).replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _valid_ip(value: Any) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        return None


def parse(ctx: ParseContext) -> None:
    import os

    raw = ctx.local_path.read_bytes()
    try:
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        mark = getattr(exc, "problem_mark", None)
        locator = f"line:{mark.line + 1}" if mark is not None else None
        ctx.warn(locator, f"inventory is not valid YAML: {exc}", raw[:200])
        return
    if not isinstance(doc, dict):
        ctx.warn("line:1", "inventory is not a YAML mapping", raw[:200])
        return
    rows: list[dict[str, Any]] = []

    def add(kind: str, value: Any, locator: str, **fields: Any) -> None:
        attributes = fields.pop("attributes", None)
        rows.append({
            "kind": kind, "value": str(value), "locator": locator,
            "host": fields.get("host"), "job": fields.get("job"), "sandbox": fields.get("sandbox"),
            "valid_from": fields.get("valid_from"), "valid_to": fields.get("valid_to"),
            "attributes": json.dumps({k: v for k, v in (attributes or {}).items() if v is not None},
                                     sort_keys=True, default=str),
        })

    for key in sorted(set(doc) - TOP_LEVEL):
        ctx.warn(key, f"unknown inventory key {key!r} ignored", str(doc[key])[:200])
    if doc.get("timezone"):
        add("default_timezone", doc["timezone"], "timezone")
    if doc.get("year"):
        add("default_year", int(doc["year"]), "year")

    for i, net in enumerate(_as_list(doc.get("networks"))):
        locator = f"networks[{i}]"
        cidr = net.get("cidr") if isinstance(net, dict) else net
        try:
            network = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            ctx.warn(locator, "network is not a CIDR block", cidr)
            continue
        zone = net.get("zone", "internal") if isinstance(net, dict) else "internal"
        name = net.get("name") if isinstance(net, dict) else None
        add("network", network, locator, attributes={"zone": zone, "name": name})

    for i, host in enumerate(_as_list(doc.get("hosts"))):
        locator = f"hosts[{i}]"
        if not isinstance(host, dict) or not host.get("name"):
            ctx.warn(locator, "host entry without a name", host)
            continue
        name = str(host["name"])
        for key in sorted(set(host) - HOST_KEYS):
            ctx.warn(f"{locator}.{key}", f"unknown host key {key!r} ignored", host[key])
        add("host", name, locator, host=name,
            attributes={"role": host.get("role"), "timezone": host.get("timezone"),
                        "description": host.get("description")})
        for alias in _as_list(host.get("aliases")):
            add("hostname", alias, f"{locator}.aliases", host=name)
        for kind, key in (("ip", "ips"), ("public_ip", "public_ips")):
            for j, value in enumerate(_as_list(host.get(key))):
                ip = _valid_ip(value)
                if ip is None:
                    ctx.warn(f"{locator}.{key}[{j}]", "not an IP address", value)
                    continue
                add(kind, ip, f"{locator}.{key}[{j}]", host=name)
        for j, gpu in enumerate(_as_list(host.get("gpus"))):
            glocator = f"{locator}.gpus[{j}]"
            if not isinstance(gpu, dict) or not (gpu.get("uuid") or gpu.get("pci_bus_id")):
                ctx.warn(glocator, "GPU entry needs a uuid or pci_bus_id", gpu)
                continue
            attributes = {"index": gpu.get("index"), "pci_bus_id": gpu.get("pci_bus_id"),
                          "uuid": gpu.get("uuid"), "model": gpu.get("model")}
            if gpu.get("uuid"):
                add("gpu_uuid", gpu["uuid"], glocator, host=name, job=gpu.get("job"), attributes=attributes)
            if gpu.get("pci_bus_id"):
                add("pci_bus_id", str(gpu["pci_bus_id"]).upper(), glocator, host=name,
                    job=gpu.get("job"), attributes=attributes)

    for i, job in enumerate(_as_list(doc.get("jobs"))):
        locator = f"jobs[{i}]"
        if not isinstance(job, dict) or not job.get("id"):
            ctx.warn(locator, "job entry without an id", job)
            continue
        add("job", job["id"], locator, job=str(job["id"]),
            attributes={k: v for k, v in job.items() if k != "id"})

    for i, box in enumerate(_as_list(doc.get("sandboxes"))):
        locator = f"sandboxes[{i}]"
        if not isinstance(box, dict) or not box.get("id"):
            ctx.warn(locator, "sandbox entry without an id", box)
            continue
        try:
            valid_from, valid_to = _time(box.get("valid_from")), _time(box.get("valid_to"))
        except ValueError:
            ctx.warn(locator, "sandbox validity is not an ISO 8601 time", box)
            valid_from = valid_to = None
        common = {"host": box.get("host"), "sandbox": str(box["id"]), "job": box.get("job"),
                  "valid_from": valid_from, "valid_to": valid_to}
        add("sandbox", box["id"], locator, **common,
            attributes={"container_id": box.get("container_id"), "ip": box.get("ip")})
        if box.get("ip"):
            ip = _valid_ip(box["ip"])
            if ip:
                add("ip", ip, f"{locator}.ip", **common)
            else:
                ctx.warn(f"{locator}.ip", "not an IP address", box["ip"])
        if box.get("container_id"):
            add("container", box["container_id"], f"{locator}.container_id", **common)

    base = os.path.dirname(os.path.abspath(ctx.path))
    for i, rule in enumerate(_as_list(doc.get("evidence"))):
        locator = f"evidence[{i}]"
        if not isinstance(rule, dict) or not rule.get("path"):
            ctx.warn(locator, "evidence hint without a path glob", rule)
            continue
        add("evidence_hint", rule["path"], locator, host=rule.get("host"),
            attributes={"path": rule["path"], "base": base, "host": rule.get("host"),
                        "timezone": rule.get("timezone"), "year": rule.get("year")})

    if rows:
        ctx.add_entities(rows)


register(Parser(
    name="inventory",
    description="Cluster inventory (YAML, kind: cluster-forensics/inventory): hosts, IPs, GPUs, jobs, sandboxes",
    tables=("entities",),
    sniff=sniff,
    parse=parse,
    phase=0,
    extensions=(".yaml", ".yml"),
))
