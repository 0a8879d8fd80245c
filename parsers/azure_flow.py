"""Azure network flow logs: NSG flow logs (version 1 and 2) and their successor, VNet flow logs
(``flowLogVersion`` 4). Each blob is ``{"records": [...]}`` (one per hour and resource).

NSG: ``records[].properties.flows[].flows[].flowTuples[]``, a tuple being
``unix_s,src,dst,sport,dport,T|U,I|O,A|D`` (v1) plus ``,B|C|E,pkts_s2d,bytes_s2d,pkts_d2s,bytes_d2s``
(v2). VNet: ``records[].flowRecords.flows[].flowGroups[].flowTuples[]``, a tuple being
``time,src,dst,sport,dport,IANA protocol,I|O,B|C|E|D,encryption,pkts_s2d,bytes_s2d,pkts_d2s,bytes_d2s``
with the time in epoch milliseconds (the unit is told apart by magnitude). Decision A / state
other than D is allow, D deny. B (begin) tuples carry no counters; C and E carry the counters
Azure gives (not summed here). The rule name is ``rule``; the interface MAC, flow state,
direction letter and encryption go to ``extra``. Locators: ``records[i].tuples[n]``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow as pa

from forensics.context import ParseContext
from forensics.firewall.netfilter_line import normalise_ip
from forensics.firewall.sink import NetEventWriter
from forensics.registry import Parser, Sniff, register

NAME = "azure_flow"
PROTOCOLS = {"T": "tcp", "U": "udp", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def sniff(s: Sniff) -> float:
    head = s.text[:16384]
    if '"records"' not in head:
        return 0.0
    if "NetworkSecurityGroupFlowEvent" in head or '"flowTuples"' in head or "FlowLogFlowEvent" in head:
        return 0.95
    return 0.0


def _time(value: str) -> tuple[datetime | None, str]:
    if not value.isdigit():
        return None, value
    number = int(value)
    seconds = number / 1000 if number > 10**11 else number
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc), value
    except (OverflowError, OSError, ValueError):
        return None, value


def _tuples(record: dict):
    """(rule, mac, tuple text) for every tuple of an NSG or VNet record."""
    props = record.get("properties") or {}
    for group in props.get("flows") or []:  # NSG
        for flow in group.get("flows") or []:
            for item in flow.get("flowTuples") or []:
                yield group.get("rule"), flow.get("mac"), item
    flow_records = record.get("flowRecords") or props.get("flowRecords") or {}
    for flow in flow_records.get("flows") or []:  # VNet
        for group in flow.get("flowGroups") or []:
            for item in group.get("flowTuples") or []:
                yield group.get("rule"), record.get("macAddress"), item


def parse(ctx: ParseContext) -> None:
    writer = NetEventWriter(ctx, NAME, family=(NAME,))
    raw = ctx.local_path.read_bytes()
    text = raw.decode("utf-8", errors="replace")
    documents = []
    try:
        documents = [json.loads(text)]
    except json.JSONDecodeError:
        for number, line in enumerate(text.splitlines(), start=1):  # one blob per line (exports)
            if not line.strip():
                continue
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError as exc:
                ctx.warn(f"line:{number}", f"not valid JSON: {exc.msg}", line)
    rows: dict[str, list] = {k: [] for k in (
        "ts", "ts_raw", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "action", "bytes_out", "bytes_in",
        "packets_out", "packets_in", "rule", "locator", "extra", "dedup_key_text")}
    index = 0
    for document in documents:
        records = document.get("records") if isinstance(document, dict) else None
        if not isinstance(records, list):
            ctx.warn(None, "JSON without a records list", str(document)[:200])
            continue
        for record in records:
            if not isinstance(record, dict):
                ctx.warn(f"records[{index}]", "record is not a JSON object", record)
                index += 1
                continue
            version = (record.get("properties") or {}).get("Version") or record.get("flowLogVersion")
            for n, (rule, mac, item) in enumerate(_tuples(record)):
                locator = f"records[{index}].tuples[{n}]"
                fields = str(item).split(",")
                if len(fields) not in (8, 13):
                    ctx.warn(locator, f"flow tuple with {len(fields)} fields (8 or 13 expected)", item)
                    continue
                when, raw_time = _time(fields[0])
                src, dst = normalise_ip(fields[1]), normalise_ip(fields[2])
                if when is None:
                    ctx.warn(locator, "flow tuple without a valid time", item)
                    continue
                if src is None or dst is None:
                    ctx.warn(locator, "flow tuple with an invalid address", item)
                    continue
                ports = []
                for value in fields[3:5]:
                    ports.append(int(value) if value.isdigit() and int(value) <= 65535 else (None if value == "" else -1))
                if -1 in ports:
                    ctx.warn(locator, "port out of range", item)
                    continue
                vnet = len(fields) == 13 and fields[5].isdigit()
                state = fields[7] if vnet else (fields[8] if len(fields) == 13 else None)
                decision = ("deny" if state == "D" else "allow") if vnet else \
                    {"A": "allow", "D": "deny"}.get(fields[7])
                counts = [int(v) if v.isdigit() else None for v in fields[-4:]] if len(fields) == 13 else [None] * 4
                rows["ts"].append(when)
                rows["ts_raw"].append(raw_time)
                rows["src_ip"].append(src)
                rows["src_port"].append(ports[0])
                rows["dst_ip"].append(dst)
                rows["dst_port"].append(ports[1])
                rows["proto"].append(PROTOCOLS.get(fields[5], fields[5]))
                rows["action"].append(decision)
                rows["packets_out"].append(counts[0])
                rows["bytes_out"].append(counts[1])
                rows["packets_in"].append(counts[2])
                rows["bytes_in"].append(counts[3])
                rows["rule"].append(rule)
                rows["locator"].append(locator)
                rows["extra"].append(json.dumps({
                    "flow_direction": fields[6], "flow_state": state, "mac": mac,
                    "encryption": fields[8] if vnet else None, "version": version,
                    "resource_id": record.get("resourceId") or record.get("targetResourceID"),
                    "category": record.get("category")}))
                rows["dedup_key_text"].append(f"{record.get('resourceId') or record.get('flowLogResourceID')}|{item}")
            index += 1
    if not rows["ts"]:
        return
    table = pa.table({
        "ts": pa.array(rows["ts"], type=pa.timestamp("us", tz="UTC")),
        "ts_raw": pa.array(rows["ts_raw"], type=pa.string()),
        "ts_inferred": pa.array([False] * len(rows["ts"])),
        **{k: pa.array(rows[k], type=pa.string()) for k in ("src_ip", "dst_ip", "proto", "action", "rule", "locator")},
        **{k: pa.array(rows[k], type=pa.int32()) for k in ("src_port", "dst_port")},
        **{k: pa.array(rows[k], type=pa.int64()) for k in ("bytes_out", "bytes_in", "packets_out", "packets_in")},
        "extra": pa.array(rows["extra"], type=pa.string()),
        "dedup_key_text": pa.array(rows["dedup_key_text"], type=pa.string()),
    })
    _azure_rows = table  # noqa: F841  (read by name)
    staged = ctx.con.sql("SELECT * EXCLUDE (dedup_key_text, extra), extra::JSON AS extra, "
                         "hash(dedup_key_text) AS dedup_key FROM _azure_rows").to_arrow_table()
    writer.insert(staged, host_from_addresses=True)
    writer.deduplicate()


register(Parser(
    name=NAME,
    description="Azure NSG flow logs (v1, v2) and VNet flow logs (v4): records with flow tuples",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json",),
))
