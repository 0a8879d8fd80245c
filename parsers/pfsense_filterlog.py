"""pfSense and OPNsense ``filterlog``: one CSV packet record per syslog line (BSD header without a
year by default, or RFC 5424 with an offset; pfSense omits the host).

Fields (netgate's raw filter log format): ``rule, subrule, anchor, tracker, interface, reason,
action, direction, ip version``, then for IPv4 ``tos, ecn, ttl, id, offset, flags, protocol id,
protocol`` and for IPv6 ``class, flow label, hop limit, protocol, protocol id``, then ``length,
source, destination``, then for TCP ``source port, destination port, data length, TCP flags,
sequence, ack, window, urg, options``, for UDP ``source port, destination port, data length``.
``pass`` is allow, ``block``/``reject`` deny; the tracker (rule id) is ``rule``, the interface and
direction go to ``extra``; TCP flag letters become names (``S`` SYN, ``A`` ACK ...). Other
programs' lines (dhcpd, unbound) in the same file are counted and skipped.
"""

from __future__ import annotations

from forensics.context import ParseContext
from forensics.firewall.appliance import RowBatch, ip_or_none, parse_syslog, port_or_problem, read_lines
from forensics.registry import Parser, Sniff, register

NAME = "pfsense_filterlog"
FLAG_NAMES = {"S": "SYN", "A": "ACK", "F": "FIN", "R": "RST", "P": "PSH", "U": "URG", "E": "ECE", "W": "CWR"}
ACTIONS = {"pass": "allow", "block": "deny", "reject": "deny", "match": None, "scrub": None}


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines
    hits = sum(1 for line in lines if "filterlog" in line and line.count(",") >= 15)
    if not hits:
        return 0.0
    return 0.95 if hits * 3 >= len(lines) else 0.7


def parse_record(csv: str) -> tuple[dict | None, str | None]:
    f = csv.strip().split(",")
    if len(f) < 9:
        return None, "filterlog record with fewer than 9 fields"
    rule, _sub, _anchor, tracker, iface, reason, action, direction, version = f[:9]
    if version == "4":
        if len(f) < 20:
            return None, "truncated IPv4 filterlog record"
        ttl, ident, proto_id, proto = f[11], f[12], f[15], f[16].lower()
        length, src, dst, rest = f[17], f[18], f[19], f[20:]
    elif version == "6":
        if len(f) < 17:
            return None, "truncated IPv6 filterlog record"
        ttl, ident, proto, proto_id = f[11], None, f[12].lower(), f[13]
        length, src, dst, rest = f[14], f[15], f[16], f[17:]
    else:
        return None, f"filterlog record with IP version {version!r}"
    src_ip, dst_ip = ip_or_none(src), ip_or_none(dst)
    if src_ip is None or dst_ip is None:
        return None, "filterlog record with an invalid source or destination address"
    row = {"src_ip": src_ip, "dst_ip": dst_ip, "proto": proto or proto_id,
           "action": ACTIONS.get(action.lower(), action.lower() or None),
           "rule": tracker or rule or None, "label": reason or None,
           "bytes_out": int(length) if length.isdigit() else None, "packets_out": 1}
    extra = {"interface": iface, "direction": direction, "rule_number": rule, "tracker": tracker,
             "ttl": ttl, "ip_id": ident, "ip_version": version}
    if proto in ("tcp", "udp") and len(rest) >= 2:
        sport, dport = port_or_problem(rest[0]), port_or_problem(rest[1])
        if sport is False or dport is False:
            return None, "port out of range"
        row["src_port"], row["dst_port"] = sport, dport
        if proto == "tcp" and len(rest) >= 4:
            row["tcp_flags"] = " ".join(FLAG_NAMES.get(c, c) for c in rest[3]) or None
    elif proto in ("icmp", "ipv6-icmp", "icmp6") and rest:
        extra["icmp"] = ",".join(rest)
    elif proto in ("tcp", "udp"):
        return None, f"truncated {proto} filterlog record"
    row["extra"] = extra
    return row, None


def parse(ctx: ParseContext) -> None:
    batch = RowBatch(ctx, NAME)
    other = 0
    for number, text in read_lines(ctx):
        line = parse_syslog(text)
        program = (line.program or "").split("[")[0]
        if program != "filterlog":
            if "filterlog" in text:  # a header we could not read around a filterlog record
                ctx.warn(f"line:{number}", "filterlog line without a readable syslog header", text)
            else:
                other += 1
            continue
        row, problem = parse_record(line.message)
        if row is None:
            ctx.warn(f"line:{number}", problem, text)
            continue
        row.update(locator=f"line:{number}", host=line.host, ts_raw=line.stamp.raw if line.stamp else None,
                   dedup_text=text)
        batch.add(number, line.stamp, row)
    batch.finish(other, "lines of other programs (dhcpd, unbound ...)")


register(Parser(
    name=NAME,
    description="pfSense/OPNsense filterlog CSV packet records (BSD or RFC 5424 syslog)",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".log",),
))
