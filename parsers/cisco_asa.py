"""Cisco ASA (and FTD, ``%FTD-``) syslog: connection builds and teardowns paired by connection id,
and denies.

- ``302013``/``302015`` (``Built {inbound|outbound} TCP|UDP connection <id> for <if>:<ip>/<port>
  (<mapped>/<port>) to <if>:<ip>/<port> (<mapped>/<port>)``) and ``302014``/``302016``
  (``Teardown ... connection <id> for ... to ... duration h:mm:ss bytes N [reason]``) make one
  ``net_events`` row per connection: from the build's time to the teardown's, ``action`` allow,
  the total byte count in ``extra`` (the ASA counts both directions together, so ``bytes_out`` and
  ``bytes_in`` stay empty rather than guessed). "outbound"/"inbound" name interface security
  levels: in an outbound build the address after ``for`` is the remote end, so the connection
  runs from the ``to`` address to it; in an inbound build from the ``for`` address. A teardown
  whose build is not in the file starts at teardown time minus duration, and its client is taken
  to be the side with the higher (ephemeral) port (said so in ``extra``); a build without a
  teardown has no end.
- ``106023`` (``Deny <proto> src <if>:<ip>/<port> dst <if>:<ip>/<port> by access-group "<acl>"``),
  ``106001`` (``Inbound TCP connection denied from <ip>/<port> to <ip>/<port> flags ...``),
  ``106015`` and ``106100`` (``access-list <acl> denied|permitted <proto> <if>/<ip>(<port>) ->
  <if>/<ip>(<port>)``): one row each, deny (or allow for a permitted 106100), with the ACL as
  ``rule``.

Stamps carry a year when ``logging timestamp`` is on (``Oct 10 2018 12:34:56``), else the kern.log
rules apply. Other messages are counted and skipped.
"""

from __future__ import annotations

import re
from datetime import timedelta

from forensics.context import ParseContext
from forensics.firewall.appliance import RowBatch, ip_or_none, parse_syslog, read_lines
from forensics.firewall.netfilter_line import Stamp
from forensics.registry import Parser, Sniff, register

NAME = "cisco_asa"
MESSAGE = re.compile(r"%(?P<kind>ASA|FTD)-(?P<level>\d)-(?P<id>\d{6}):\s*(?P<text>.*)$")
ENDPOINT = r"(?P<{n}_if>[^:\s]+):(?P<{n}_ip>[0-9A-Fa-f:.]+)/(?P<{n}_port>\d+)"
BUILT = re.compile(r"Built (?P<dir>inbound|outbound) (?P<proto>TCP|UDP|SCTP) connection (?P<cid>\d+) for "
                   + ENDPOINT.format(n="a") + r"(?: \([^)]*\))? to " + ENDPOINT.format(n="b"))
TEARDOWN = re.compile(r"Teardown (?P<proto>TCP|UDP|SCTP) connection (?P<cid>\d+) for " + ENDPOINT.format(n="a")
                      + r" to " + ENDPOINT.format(n="b")
                      + r"(?: duration (?P<dur>\d+:\d\d:\d\d))?(?: bytes (?P<bytes>\d+))?(?P<reason>.*)$")
DENY = re.compile(r"Deny (?P<proto>\w+) src " + ENDPOINT.format(n="a") + r" dst " + ENDPOINT.format(n="b")
                  + r"(?: \(type \d+, code \d+\))? by access-group \"(?P<acl>[^\"]+)\"")
INBOUND_DENIED = re.compile(r"(?:Inbound|Outbound) (?P<proto>TCP|UDP) connection denied from (?P<a_ip>[0-9A-Fa-f:.]+)/"
                            r"(?P<a_port>\d+) to (?P<b_ip>[0-9A-Fa-f:.]+)/(?P<b_port>\d+)(?: flags (?P<flags>[A-Z ]+?))?"
                            r"(?: +on interface (?P<iface>\S+))?\s*$")
ACCESS_LIST = re.compile(r"access-list (?P<acl>\S+) (?P<verdict>denied|permitted|est-allowed) (?P<proto>\w+) "
                         r"(?P<a_if>[^/\s]+)/(?P<a_ip>[0-9A-Fa-f:.]+)\((?P<a_port>\d+)\)(?:\([^)]*\))? -> "
                         r"(?P<b_if>[^/\s]+)/(?P<b_ip>[0-9A-Fa-f:.]+)\((?P<b_port>\d+)\)")


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines
    hits = sum(1 for line in lines if MESSAGE.search(line))
    if not hits:
        return 0.0
    return 0.95 if hits * 3 >= len(lines) else 0.7


def _port(text: str) -> int | None:
    value = int(text)
    return value if value <= 65535 else None


def _duration(text: str | None) -> timedelta | None:
    if not text:
        return None
    h, m, s = (int(x) for x in text.split(":"))
    return timedelta(hours=h, minutes=m, seconds=s)


def parse(ctx: ParseContext) -> None:
    batch = RowBatch(ctx, NAME)
    # builds waiting for their teardown: connection id -> (line, stamp, row)
    open_builds: dict[tuple[str | None, str], tuple[int, Stamp | None, dict]] = {}
    other = 0
    for number, text in read_lines(ctx):
        m = MESSAGE.search(text)
        if not m:
            other += 1
            continue
        header = parse_syslog(text[:m.start()].rstrip() + " x: -")
        stamp, host = header.stamp, header.host
        message_id, body = m.group("id"), m.group("text")
        locator = f"line:{number}"
        base = {"host": host, "ts_raw": stamp.raw if stamp else None, "locator": locator, "dedup_text": text}
        if message_id in ("302013", "302015", "302017", "302020"):
            b = BUILT.search(body)
            if not b:
                ctx.warn(locator, f"ASA {message_id} message not in the expected form", text)
                continue
            outbound = b.group("dir") == "outbound"
            src, dst = ("b", "a") if outbound else ("a", "b")
            row = dict(base, **_endpoints(b, src, dst), proto=b.group("proto").lower(), action="allow",
                       extra={"message_id": message_id, "connection_id": b.group("cid"),
                              "asa_direction": b.group("dir"), "src_interface": b.group(f"{src}_if"),
                              "dst_interface": b.group(f"{dst}_if")})
            if row.pop("_bad_port") or row["src_ip"] is None or row["dst_ip"] is None:
                ctx.warn(locator, "ASA message with an invalid address or port", text)
                continue
            open_builds[(host, b.group("cid"))] = (number, stamp, row)
        elif message_id in ("302014", "302016", "302018", "302021"):
            t = TEARDOWN.search(body)
            if not t:
                ctx.warn(locator, f"ASA {message_id} message not in the expected form", text)
                continue
            built = open_builds.pop((host, t.group("cid")), None)
            duration = _duration(t.group("dur"))
            closing = {"teardown_locator": locator, "duration_s": duration.total_seconds() if duration else None,
                       "bytes_total": int(t.group("bytes")) if t.group("bytes") else None,
                       "teardown_reason": t.group("reason").strip() or None}
            if built is not None:
                line, build_stamp, row = built
                row["extra"].update(closing)
                row["_ends_after_s"] = duration.total_seconds() if duration else None
                batch.add(line, build_stamp, row)
            else:  # the build is before the file: take the side with the higher (ephemeral) port as client
                a_port, b_port = int(t.group("a_port")), int(t.group("b_port"))
                src, dst = ("a", "b") if a_port > b_port else ("b", "a")
                row = dict(base, **_endpoints(t, src, dst), proto=t.group("proto").lower(), action="allow",
                           extra={"message_id": message_id, "connection_id": t.group("cid"), **closing,
                                  "note": "build not in this file: the client is guessed as the side with the "
                                          "higher port"})
                if row.pop("_bad_port") or row["src_ip"] is None or row["dst_ip"] is None:
                    ctx.warn(locator, "ASA message with an invalid address or port", text)
                    continue
                row["_starts_before_s"] = duration.total_seconds() if duration else None
                batch.add(number, stamp, row)
        elif message_id in ("106023", "106001", "106015", "106100", "106006", "106007"):
            d = DENY.search(body) or INBOUND_DENIED.search(body) or ACCESS_LIST.search(body)
            if not d:
                ctx.warn(locator, f"ASA {message_id} message not in the expected form", text)
                continue
            verdict = d.groupdict().get("verdict")
            row = dict(base, **_endpoints(d, "a", "b"), proto=d.group("proto").lower(),
                       action="allow" if verdict in ("permitted", "est-allowed") else "deny",
                       rule=d.groupdict().get("acl"),
                       tcp_flags=(d.groupdict().get("flags") or "").strip() or None,
                       extra={"message_id": message_id, "src_interface": d.groupdict().get("a_if"),
                              "dst_interface": d.groupdict().get("b_if") or d.groupdict().get("iface")})
            if row["src_ip"] is None or row["dst_ip"] is None or row.pop("_bad_port", False):
                ctx.warn(locator, "ASA message with an invalid address or port", text)
                continue
            batch.add(number, stamp, row)
        else:
            other += 1
    for line, stamp, row in open_builds.values():  # builds whose teardown is not in the file
        batch.add(line, stamp, row)
    batch.finish(other, "ASA messages of other kinds")


def _endpoints(m: re.Match, src: str, dst: str) -> dict:
    ports = [_port(m.group(f"{side}_port")) for side in (src, dst)]
    return {"src_ip": ip_or_none(m.group(f"{src}_ip")), "src_port": ports[0],
            "dst_ip": ip_or_none(m.group(f"{dst}_ip")), "dst_port": ports[1],
            "_bad_port": None in ports}


register(Parser(
    name=NAME,
    description="Cisco ASA/FTD syslog: 302013/302014 builds and teardowns paired by connection id, 106023/106001/106100 denies",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".log",),
))
