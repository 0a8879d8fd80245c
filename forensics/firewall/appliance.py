"""Shared pieces of the line-by-line appliance parsers (pfSense/OPNsense filterlog, Cisco ASA,
CEF, ulogd JSON): the syslog header (RFC 3164 or RFC 5424) and a batch writer that turns rows
with syslog stamps into ``net_events`` in bounded Arrow batches, with the same year and zone
rules as kern.log (:mod:`.syslogtime`).

These formats are read in Python, one regular expression per line: appliance logs are far
smaller than kernel logs, and their grammars (CSV variants by protocol, ASA message ids, CEF
escapes) are clearer as code than as vectorised SQL.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pyarrow as pa

from forensics.context import ParseContext

from .netfilter import TimeContext, stamp_components, times_from_components
from .netfilter_line import Stamp, normalise_ip, parse_stamp
from .sink import HostNames, NetEventWriter

RFC5424 = re.compile(r"^\s*<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
                     r"(?P<msgid>\S+) (?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+) ?(?P<msg>.*)$")
TAG = re.compile(r"^(?P<tag>[\w\-./]+(?:\[\d+\])?):\s?(?P<msg>.*)$")


@dataclass
class SyslogLine:
    stamp: Stamp | None
    host: str | None
    program: str | None
    message: str


def parse_syslog(text: str) -> SyslogLine:
    """Stamp, host, program and message of a syslog line (RFC 5424 or RFC 3164, with or without a
    host); a line without a syslog header is all message."""
    m = RFC5424.match(text)
    if m:
        stamp, _ = parse_stamp(m.group("ts"))
        host = None if m.group("host") == "-" else m.group("host")
        app = None if m.group("app") == "-" else m.group("app")
        return SyslogLine(stamp, host, app, m.group("msg"))
    stamp, start = parse_stamp(text)
    if stamp is None:
        return SyslogLine(None, None, None, text)
    rest = text[start:]
    m = TAG.match(rest)
    if m:  # "program[pid]: message", no host
        return SyslogLine(stamp, None, m.group("tag"), m.group("msg"))
    host, _, after = rest.partition(" ")
    m = TAG.match(after)
    if m:
        return SyslogLine(stamp, host, m.group("tag"), m.group("msg"))
    if after.startswith(": "):  # "host : message" (ASA without a tag)
        return SyslogLine(stamp, host, None, after[2:])
    return SyslogLine(stamp, host, None, after)


def ip_or_none(text: str | None) -> str | None:
    return normalise_ip(text) if text else None


def port_or_problem(text: str | None) -> int | None | bool:
    """A port number, None when absent, False when malformed or out of range."""
    if text in (None, ""):
        return None
    if not text.isdigit() or int(text) > 65535:
        return False
    return int(text)


class RowBatch:
    """Collects net_events rows (dicts) with their syslog stamps and writes them in batches."""

    COLUMNS = ("ts_end", "ts_raw", "host", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "action",
               "bytes_out", "bytes_in", "packets_out", "packets_in", "tcp_flags", "rule", "label",
               "src_private_ip", "locator", "extra", "dedup_text")
    INTS = {"src_port", "dst_port"}
    BIGS = {"bytes_out", "bytes_in", "packets_out", "packets_in"}

    def __init__(self, ctx: ParseContext, source_format: str, batch_size: int = 50_000) -> None:
        self.ctx = ctx
        self.writer = NetEventWriter(ctx, source_format, family=(source_format,))
        self.hosts = HostNames(ctx)
        try:
            mtime = os.path.getmtime(ctx.path)
        except OSError:
            mtime = None
        self.time = TimeContext(ctx.hints.timezone, ctx.hints.year, mtime)
        self.batch_size = batch_size
        self.rows: list[dict] = []
        self.stamps: list[Stamp | None] = []
        self.numbers: list[int] = []

    def add(self, line: int, stamp: Stamp | None, row: dict) -> None:
        """``row`` holds net_events columns; ``ts`` may be given (an exact time from the record),
        else the stamp's time is used; ``host`` is the logging device's name (kept in ``extra``
        as ``device``: the row's host is the file's --host hint or the cluster host owning an
        address).
        ``_ends_after_s`` sets ``ts_end`` that long after the stamp; ``_starts_before_s`` makes the
        stamp the end and starts the record that long before it."""
        self.rows.append(row)
        self.stamps.append(stamp)
        self.numbers.append(line)
        if len(self.rows) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        comp = stamp_components(self.stamps, self.numbers)
        ts_us, inferred, bad = times_from_components(self.time, comp)
        keep_rows, ts, flags = [], [], []
        for i, row in enumerate(self.rows):
            given = row.get("ts")
            if given is not None:
                keep_rows.append(row)
                ts.append(given)
                flags.append(False)
            elif self.stamps[i] is None:  # kept, without a time
                self.ctx.warn(row.get("locator"), "record without a time stamp (loaded without a time)",
                              row.get("dedup_text"))
                keep_rows.append(row)
                ts.append(None)
                flags.append(False)
            elif bad[i]:
                self.ctx.warn(row.get("locator"), "impossible date or time in the stamp", self.stamps[i].raw)
            else:
                when = datetime.fromtimestamp(int(ts_us[i]) / 1e6, tz=timezone.utc)
                # a record stamped at its end (a teardown) with a known duration starts earlier
                if row.get("_starts_before_s") is not None:
                    row["ts_end"] = when
                    when = when - timedelta(seconds=row["_starts_before_s"])
                elif row.get("_ends_after_s") is not None:
                    row["ts_end"] = when + timedelta(seconds=row["_ends_after_s"])
                keep_rows.append(row)
                ts.append(when)
                flags.append(bool(inferred[i]))
        self.rows, self.stamps, self.numbers = [], [], []
        if not keep_rows:
            return
        data: dict[str, pa.Array] = {
            "ts": pa.array(ts, type=pa.timestamp("us", tz="UTC")),
            "ts_inferred": pa.array(flags, type=pa.bool_()),
        }
        for row in keep_rows:
            # the name in the syslog header is the device that logged (a firewall appliance): the
            # host a record concerns is the cluster host owning one of its addresses (or --host)
            device = row.pop("host", None)
            if device and isinstance(row.get("extra"), dict):
                row["extra"].setdefault("device", device)
            row["host"] = self.hosts.hint
        for name in self.COLUMNS:
            values = [r.get(name) for r in keep_rows]
            if name == "extra":
                values = [json.dumps(v, ensure_ascii=False, default=str) if v is not None else None for v in values]
            kind = pa.int32() if name in self.INTS else pa.int64() if name in self.BIGS else \
                pa.timestamp("us", tz="UTC") if name == "ts_end" else pa.string()
            data[name] = pa.array(values, type=kind)
        table = pa.table(data)
        con = self.ctx.con
        _appliance_rows = table  # noqa: F841  (read by name, see sink.NetEventWriter.insert)
        staged = con.sql("SELECT * EXCLUDE (dedup_text, extra), extra::JSON AS extra, "
                         "hash(dedup_text) AS dedup_key FROM _appliance_rows").to_arrow_table()
        self.writer.insert(staged, host_from_addresses=True)

    def finish(self, n_other: int = 0, what: str = "lines") -> None:
        self.flush()
        if self.time.used_year and self.time.year_source in ("mtime", "clock"):
            self.ctx.warn(None, f"RFC 3164 stamps have no year: {self.time.years.base_year} assumed from the "
                          "file's modification time (give --year or the inventory's year: to override)")
        if self.time.used_zone and not self.ctx.hints.timezone:
            self.ctx.warn(None, "stamps without a zone read as UTC: no time zone known for this file "
                          "(give --tz or an inventory timezone)")
        if n_other:
            self.ctx.warn(None, f"{n_other} {what} skipped")
        self.writer.deduplicate()


def read_lines(ctx: ParseContext):
    """(line number, text) for every non-blank line; bytes that are not UTF-8 are replaced."""
    with ctx.open() as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if text.strip():
                yield number, text
