"""ArcSight Common Event Format (CEF) records, alone on a line or after a syslog header:
``CEF:Version|Vendor|Product|Version|SignatureID|Name|Severity|extension``.

Header fields escape ``|`` and ``\\`` with a backslash; the extension is ``key=value`` pairs where
a value runs until the next `` key=`` and ``\\=``, ``\\\\``, ``\\n`` are escapes. Mapped keys:
``src``/``dst``/``spt``/``dpt``/``proto``, ``act`` (allow/accept/permit/pass allow; deny/drop/
block/reject deny; alert/detect alert), ``out``/``in`` (bytes from source to destination / back,
as CEF defines them), ``rt`` or ``start``/``end`` (epoch milliseconds or ``MMM dd yyyy
HH:mm:ss[.SSS][ zone]``; the syslog stamp otherwise). The vendor's event name is ``label`` and
its signature id ``rule``; vendor, product, severity and every other key go to ``extra``. Without
``act`` the action is unknown.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from forensics.context import ParseContext
from forensics.firewall.appliance import RowBatch, ip_or_none, parse_syslog, port_or_problem, read_lines
from forensics.firewall.syslogtime import zone
from forensics.registry import Parser, Sniff, register

NAME = "cef"
KEY = re.compile(r"(?:^|(?<=\s))([A-Za-z0-9_.\[\]-]+)=")
ACTIONS = {"allow": "allow", "allowed": "allow", "accept": "allow", "accepted": "allow", "permit": "allow",
           "permitted": "allow", "pass": "allow", "deny": "deny", "denied": "deny", "drop": "deny",
           "dropped": "deny", "block": "deny", "blocked": "deny", "reject": "deny", "rejected": "deny",
           "alert": "alert", "detect": "alert", "detected": "alert"}
PROTOS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


def sniff(s: Sniff) -> float:
    lines = s.first_nonblank_lines
    hits = sum(1 for line in lines if "CEF:" in line and line.split("CEF:", 1)[1].count("|") >= 7)
    if not hits:
        return 0.0
    return 0.95 if hits * 2 >= len(lines) else 0.7


def split_header(text: str) -> tuple[list[str], str] | None:
    """The seven header fields (unescaped) and the extension."""
    fields, current, i = [], [], 0
    while i < len(text) and len(fields) < 7:
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in "|\\":
            current.append(text[i + 1])
            i += 2
            continue
        if c == "|":
            fields.append("".join(current))
            current = []
        else:
            current.append(c)
        i += 1
    if len(fields) < 7:
        return None
    return fields, text[i:]


def parse_extension(text: str) -> dict[str, str]:
    unescaped = text.replace("\\=", "\x00EQ\x00")
    matches = list(KEY.finditer(unescaped))
    values = {}
    for n, m in enumerate(matches):
        end = matches[n + 1].start() if n + 1 < len(matches) else len(unescaped)
        value = unescaped[m.end():end].rstrip()
        value = value.replace("\x00EQ\x00", "=").replace("\\n", "\n").replace("\\r", "\r").replace("\\\\", "\\")
        values.setdefault(m.group(1), value)
    return values


CEF_DATE = re.compile(r"^(?P<when>[A-Z][a-z]{2} +\d{1,2} \d{4} \d\d:\d\d:\d\d(?:\.\d{1,6})?)(?: (?P<zone>\S+))?$")


def _time(value: str | None, tz_name: str | None):
    """An exact time from rt/start/end (epoch milliseconds or seconds, or ``MMM dd yyyy
    HH:mm:ss[.SSS][ zone]``; without a zone the file's zone hint), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        number = int(value)
        try:
            return datetime.fromtimestamp(number / 1000 if number > 10**11 else number, tz=timezone.utc)
        except (OverflowError, OSError, ValueError):
            return None
    m = CEF_DATE.match(value)
    if not m:
        return None
    text = re.sub(" +", " ", m.group("when"))
    try:
        parsed = datetime.strptime(text, "%b %d %Y %H:%M:%S.%f" if "." in text else "%b %d %Y %H:%M:%S")
    except ValueError:
        return None
    name = m.group("zone")
    if name in ("UTC", "GMT", "Z"):
        return parsed.replace(tzinfo=timezone.utc)
    if name and name[0] in "+-" and name[1:].replace(":", "").isdigit() and len(name.replace(":", "")) == 5:
        digits = name.replace(":", "")
        offset = (int(digits[1:3]) * 60 + int(digits[3:5])) * (1 if name[0] == "+" else -1)
        return (parsed - timedelta(minutes=offset)).replace(tzinfo=timezone.utc)
    tz = zone(name) if name else zone(tz_name)
    if tz is None:
        return None
    return parsed.replace(tzinfo=tz).astimezone(timezone.utc)


def parse(ctx: ParseContext) -> None:
    batch = RowBatch(ctx, NAME)
    other = 0
    for number, text in read_lines(ctx):
        at = text.find("CEF:")
        if at < 0:
            other += 1
            continue
        locator = f"line:{number}"
        header = parse_syslog(text[:at].rstrip() + " x: -") if at else None
        parts = split_header(text[at + 4:])
        if parts is None:
            ctx.warn(locator, "CEF record with fewer than 7 header fields", text)
            continue
        (version, vendor, product, product_version, signature, name, severity), extension = parts
        ext = parse_extension(extension)
        sport, dport = port_or_problem(ext.get("spt")), port_or_problem(ext.get("dpt"))
        if sport is False or dport is False:
            ctx.warn(locator, "port out of range", text)
            continue
        src, dst = ip_or_none(ext.get("src")), ip_or_none(ext.get("dst"))
        if (ext.get("src") and src is None) or (ext.get("dst") and dst is None):
            ctx.warn(locator, "CEF record with an invalid src or dst address", text)
            continue
        act = (ext.get("act") or "").strip().lower()
        action = ACTIONS.get(act)
        exact = _time(ext.get("rt"), ctx.hints.timezone) or _time(ext.get("start"), ctx.hints.timezone)
        proto = (ext.get("proto") or "").lower() or None
        row = {
            "ts": exact, "ts_end": _time(ext.get("end"), ctx.hints.timezone),
            "ts_raw": ext.get("rt") or ext.get("start") or (header.stamp.raw if header and header.stamp else None),
            "host": ext.get("dvchost") or (header.host if header else None),
            "src_ip": src, "src_port": sport, "dst_ip": dst, "dst_port": dport,
            "proto": PROTOS.get(proto, proto), "action": action,
            "bytes_out": int(ext["out"]) if ext.get("out", "").isdigit() else None,
            "bytes_in": int(ext["in"]) if ext.get("in", "").isdigit() else None,
            "rule": signature or None, "label": name or None, "locator": locator, "dedup_text": text,
            "extra": {"cef_version": version, "vendor": vendor, "product": product,
                      "product_version": product_version, "severity": severity,
                      "act": ext.get("act"), **{k: v for k, v in ext.items() if k not in (
                          "src", "dst", "spt", "dpt", "proto", "act", "out", "in")}},
        }
        batch.add(number, header.stamp if header else None, row)
    batch.finish(other, "lines without a CEF record")


register(Parser(
    name=NAME,
    description="ArcSight CEF records (firewall, IDS and proxy events), alone or after a syslog header",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".log", ".cef"),
))
