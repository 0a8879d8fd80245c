"""The reference parser for one Linux netfilter LOG line (iptables ``-j LOG``, nftables ``log``).

The kernel (``net/netfilter/nf_log_syslog.c``) prints, in a fixed order::

    <prefix>IN=<if> OUT=<if> [PHYSIN=..] [PHYSOUT=..] [MAC=..] SRC= DST= LEN= TOS= PREC= TTL= ID=
    [CE] [DF] [MF] [FRAG:n] [OPT (..)] PROTO=TCP SPT= DPT= [SEQ= ACK=] WINDOW= RES=0x.. <flags> URGP=
    ... [UID= GID=] [MARK=0x..]

This module is the specification: readable, one regular expression per part, first occurrence of
a key wins (UDP repeats ``LEN=``, ICMP echo repeats ``ID=``), and the bracketed packet quoted by an
ICMP error (``[SRC=.. DST=.. ]``) is cut off before keys are read. The vectorised engine in
:mod:`.netfilter` handles the common shapes and hands every other line to :func:`parse_line`; the
tests check that both agree on every line they both read.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache

from .syslogtime import MONTH_NUMBER, iso_offset_seconds

STAMP = re.compile(
    r"""^\s*(?:<(?P<pri>\d{1,3})>(?:1\ +)?)?
    (?:(?P<bsd>(?P<mon>[A-Z][a-z]{2})\ +(?P<day>\d{1,2})(?:\ +(?P<year>\d{4}))?\ +
              (?P<hour>\d{1,2}):(?P<minute>\d\d):(?P<second>\d\d)(?:\.(?P<bfrac>\d{1,9}))?)
      |(?P<iso>(?P<iyear>\d{4})-(?P<imonth>\d\d)-(?P<iday>\d\d)[T\ ](?P<ihour>\d\d):(?P<iminute>\d\d):
              (?P<isecond>\d\d)(?:\.(?P<ifrac>\d{1,9}))?(?P<ioffset>[Zz]|[+-]\d\d:?\d\d)?))
    (?:\ +|$)""",
    re.X,
)
# The first "IN=<if> OUT=<if>": the prefix may be glued to IN= ("[wan-lan-default-D]IN=eth0").
IN_OUT = re.compile(r"IN=(?P<in>[^ ]*) OUT=(?P<out>[^ ]*)")
# What may stand between the stamp and the prefix: host, facility.level, "kernel:", uptime.
HOST = re.compile(r"(?P<host>[^\s:\[\]]+)\s+")
FACILITY = re.compile(r"[a-z]+\.[a-z]+\s+")
KERNEL_TAG = re.compile(r"kernel(?:\[\d+\])?:\s*")
UPTIME = re.compile(r"\[\s*\d+\.\d+\]\s*")

PORT_PROTOCOLS = frozenset({"TCP", "UDP", "UDPLITE", "SCTP", "DCCP"})
ICMP_PROTOCOLS = frozenset({"ICMP", "ICMPV6"})
NETFILTER_MARKS = ("SRC=", "DST=", "PROTO=", " DPT=", " SPT=")


@dataclass
class Stamp:
    kind: int  # 1: RFC 3164 (month day time), 2: ISO 8601 / RFC 3339
    raw: str
    year: int  # 0 when the stamp has none
    month: int
    day: int
    hour: int
    minute: int
    second: int
    micro: int
    offset: int | None  # seconds east of UTC, None when the stamp has no zone


@dataclass
class LineResult:
    record: dict | None = None  # the parsed fields, when the line is a netfilter record
    problem: str | None = None  # why a netfilter-looking line was rejected
    stamp: Stamp | None = None


@lru_cache(maxsize=1 << 16)
def normalise_ip(text: str) -> str | None:
    """Canonical text of an address (IPv6 compressed, as Zeek and the clouds print it), or None."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def parse_stamp(text: str) -> tuple[Stamp | None, int]:
    """The syslog stamp at the start of ``text`` and where the rest begins (0 when none)."""
    m = STAMP.match(text)
    if not m:
        return None, 0
    if m.group("bsd"):
        frac = m.group("bfrac") or ""
        stamp = Stamp(1, m.group("bsd"), int(m.group("year") or 0), MONTH_NUMBER.get(m.group("mon"), 0),
                      int(m.group("day")), int(m.group("hour")), int(m.group("minute")),
                      int(m.group("second")), int((frac + "000000")[:6]) if frac else 0, None)
    else:
        frac = m.group("ifrac") or ""
        stamp = Stamp(2, m.group("iso"), int(m.group("iyear")), int(m.group("imonth")), int(m.group("iday")),
                      int(m.group("ihour")), int(m.group("iminute")), int(m.group("isecond")),
                      int((frac + "000000")[:6]) if frac else 0,
                      iso_offset_seconds(m.group("iso")) if m.group("ioffset") else None)
    return stamp, m.end()


def split_pre(pre: str, with_host: bool) -> tuple[str | None, str | None]:
    """Host and log prefix from what precedes ``IN=`` (after the stamp). A word ending in ':' right
    after the stamp is a prefix (``DENY: IN=``), not a host; only ``kernel:`` is taken as a tag."""
    rest = pre
    host = None
    if with_host:
        m = HOST.match(rest)
        if m:
            host = m.group("host")
            rest = rest[m.end():]
        m = FACILITY.match(rest)
        if m and KERNEL_TAG.match(rest[m.end():]):
            rest = rest[m.end():]
    m = KERNEL_TAG.match(rest)
    if m:
        rest = rest[m.end():]
    m = UPTIME.match(rest)
    if m:
        rest = rest[m.end():]
    prefix = rest.strip()
    return host, (prefix or None)


def _int(value: str | None, limit: int) -> int | None | bool:
    """An unsigned decimal, None when absent, False when malformed or above ``limit``."""
    if value is None:
        return None
    if not value.isdigit() or len(value) > 10:
        return False
    number = int(value)
    return number if number <= limit else False


def parse_body(body: str) -> tuple[dict | None, str | None]:
    """Fields from ``IN=`` to the end of a netfilter message."""
    m = IN_OUT.search(body)
    if not m:
        return None, "netfilter line without IN=/OUT="
    record: dict = {"in_if": m.group("in") or None, "out_if": m.group("out") or None}
    rest = body[m.end():]
    cut = rest.find(" [")
    if cut >= 0:  # the packet quoted by an ICMP error: not this packet's fields
        rest = rest[:cut]
    keys: dict[str, str] = {}
    proto_seen = False
    res_seen = urgp_seen = False
    tcp_flags: list[str] = []
    for token in rest.split(" "):
        if not token:
            continue
        key, sep, value = token.partition("=")
        if sep:
            if key == "PROTO":
                proto_seen = True
            if key == "ID" and proto_seen:
                continue  # ICMP echo id, not the IP id
            if key == "RES":
                res_seen = True
            elif key == "URGP":
                urgp_seen = True
            keys.setdefault(key, value)
        elif res_seen and not urgp_seen:
            tcp_flags.append(token)
    src, dst = keys.get("SRC"), keys.get("DST")
    if src is None or dst is None:
        return None, "netfilter line without SRC= and DST= (truncated?)"
    record["src"] = normalise_ip(src)
    record["dst"] = normalise_ip(dst)
    if record["src"] is None or record["dst"] is None:
        return None, "netfilter line with an invalid SRC or DST address"
    proto = keys.get("PROTO")
    record["proto"] = proto
    upper = (proto or "").upper()
    numbers = {"ip_len": ("LEN", 65535), "ttl": ("TTL", 255), "ip_id": ("ID", 65535),
               "uid": ("UID", 4294967295), "gid": ("GID", 4294967295)}
    if upper in PORT_PROTOCOLS:
        numbers.update({"spt": ("SPT", 65535), "dpt": ("DPT", 65535)})
    if upper in ICMP_PROTOCOLS:
        numbers.update({"icmp_type": ("TYPE", 255), "icmp_code": ("CODE", 255)})
    if "TTL" not in keys and "HOPLIMIT" in keys:
        keys["TTL"] = keys["HOPLIMIT"]
    for field, (key, limit) in numbers.items():
        value = _int(keys.get(key), limit)
        if value is False:
            reason = "port out of range" if key in ("SPT", "DPT") else f"malformed {key}= value"
            return None, reason
        record[field] = value
    if upper in PORT_PROTOCOLS and (record.get("spt") is None or record.get("dpt") is None):
        return None, f"{proto} packet without SPT/DPT (truncated?)"
    record["tcp_flags"] = " ".join(tcp_flags) if upper == "TCP" and res_seen else None
    for field in ("spt", "dpt", "icmp_type", "icmp_code"):
        record.setdefault(field, None)
    return record, None


def parse_line(text: str, with_header: bool = True) -> LineResult:
    """One line of kern.log/syslog/messages (``with_header``) or one bare kernel message
    (journald ``MESSAGE``, ulogd's syslogemu without stamps)."""
    stamp = None
    start = 0
    if with_header:
        stamp, start = parse_stamp(text)
        if stamp is None:
            return LineResult(problem=_problem_if_netfilter(text, "netfilter line without a syslog time stamp"))
    m = IN_OUT.search(text, start)
    if not m:
        return LineResult(problem=_problem_if_netfilter(text[start:], "incomplete netfilter line (no IN=/OUT=)"),
                          stamp=stamp)
    host, prefix = split_pre(text[start:m.start()], with_header)
    record, problem = parse_body(text[m.start():].rstrip())
    if record is None:
        return LineResult(problem=problem, stamp=stamp)
    record["syslog_host"] = host
    record["prefix"] = prefix
    return LineResult(record=record, stamp=stamp)


def _problem_if_netfilter(text: str, reason: str) -> str | None:
    """A reason when the line looks like part of a netfilter record, None for any other line."""
    return reason if sum(mark in text for mark in NETFILTER_MARKS) >= 2 else None


def looks_like_netfilter(text: str) -> bool:
    return bool(IN_OUT.search(text)) and " SRC=" in text and " DST=" in text and "PROTO=" in text


_DENY_WORDS = ("DROP", "DENY", "DENIED", "REJECT", "BLOCK", "DISCARD")
_ALLOW_WORDS = ("ACCEPT", "ALLOW", "PASS", "AUDIT", "PERMIT")


def action_for_prefix(prefix: str | None) -> str | None:
    """What the rule that logged the packet did, as far as its prefix says: ``deny``, ``allow``,
    or None (a LOG rule alone decides nothing). EdgeOS/VyOS prefixes end in ``-D]`` (drop),
    ``-R]`` (reject) or ``-A]`` (accept)."""
    if not prefix:
        return None
    text = prefix.upper()
    if re.search(r"-[DR]\]", text):
        return "deny"
    if re.search(r"-A\]", text):
        return "allow"
    if any(word in text for word in _DENY_WORDS):
        return "deny"
    if any(word in text for word in _ALLOW_WORDS):
        return "allow"
    return None


def actions_for(prefixes):
    """``action_for_prefix`` over an Arrow string array, once per distinct prefix."""
    import pyarrow as pa

    encoded = prefixes.dictionary_encode()
    actions = [action_for_prefix(p) for p in encoded.dictionary.to_pylist()]
    return pa.array(actions, type=pa.string()).take(encoded.indices)
