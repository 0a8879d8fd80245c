"""Netfilter LOG lines inside the systemd journal: ``journalctl -o json`` (one object per line),
``journalctl -o export`` (``KEY=value`` lines, a blank line between entries, binary fields as
length-prefixed data), and the same kernel messages shipped by Filebeat/Elastic Agent (objects
with ``message`` and ``@timestamp``, one per line or as an ``{"events": [...]}`` document).

``MESSAGE`` holds the kernel text without syslog stamp or uptime; ``__REALTIME_TIMESTAMP`` is
microseconds since the epoch in UTC (exact, not inferred); the host is ``_HOSTNAME`` (mapped to
the inventory's name when it knows it). The fields are read by the same engine as kern.log, so a
packet logged in both files gets the same ``dedup_key`` and becomes one event with two
provenance entries (see ``net_event_provenance``). Other journal entries are counted and skipped.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from forensics.context import ParseContext
from forensics.firewall.jsonlines import TEXT, iter_line_tables
from forensics.firewall.netfilter import NET_EVENTS_SELECT, NetfilterReader, with_host_and_action
from forensics.firewall.sink import NETFILTER_FAMILY, HostNames, NetEventWriter
from forensics.registry import Parser, Sniff, register

NAME = "journald"
JOURNAL_KEYS = ("__REALTIME_TIMESTAMP", "__CURSOR", "_BOOT_ID", "_TRANSPORT")


def _netfilter_in(text: str) -> bool:
    return "IN=" in text and "SRC=" in text and "PROTO=" in text


def sniff(s: Sniff) -> float:
    text = s.text
    head = text[:8192]
    journal = sum(key in head for key in JOURNAL_KEYS) >= 2 and "MESSAGE" in head
    stripped = head.lstrip()
    if journal and (stripped.startswith("{") or stripped.startswith("__") or stripped.startswith("_")):
        return 0.9 if _netfilter_in(text) else 0.5
    if stripped.startswith("{") and '"@timestamp"' in head and '"message"' in text and _netfilter_in(text):
        return 0.7  # Filebeat / Elastic Agent envelope around kernel lines
    return 0.0


class _Rows:
    """Collects (locator number, message, realtime µs or ISO text, host) for candidate entries."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self.messages: list[str] = []
        self.times: list[str | None] = []
        self.hosts: list[str | None] = []

    def add(self, number: int, message: str, when: str | None, host: str | None) -> None:
        self.numbers.append(number)
        self.messages.append(message)
        self.times.append(when)
        self.hosts.append(host)

    def table(self) -> pa.Table:
        return pa.table({"line": pa.array(self.numbers, type=pa.int64()),
                         "message": pa.array(self.messages, type=pa.string()),
                         "when": pa.array(self.times, type=pa.string()),
                         "host_name": pa.array(self.hosts, type=pa.string())})


class JournalLoader:
    def __init__(self, ctx: ParseContext, locator: str = "line:{}") -> None:
        self.ctx = ctx
        self.writer = NetEventWriter(ctx, NAME, family=NETFILTER_FAMILY)
        self.hosts = HostNames(ctx)
        self.reader = NetfilterReader(None, with_header=False)
        self.locator = locator  # Python format of a locator from an entry number
        self.n_other = 0

    def load(self, entries: pa.Table) -> None:
        """``entries``: line, message, when (µs since the epoch or ISO 8601), host_name."""
        if entries.num_rows == 0:
            return
        result = self.reader.read_strings(entries.column("message").combine_chunks(),
                                          entries.column("line").to_numpy())
        for number, reason, excerpt in result.warnings:
            self.ctx.warn(self.locator.format(number), reason, excerpt)
        self.n_other += result.n_other
        if result.table.num_rows == 0:
            return
        con = self.ctx.con
        # read by name from this frame (registering would keep them until the file's commit)
        _journal_entries = entries  # noqa: F841
        _journal_records = result.table.drop_columns(["ts", "ts_inferred", "ts_raw"])  # noqa: F841
        joined = con.sql("""
            SELECT r.*, e.when AS ts_raw, e.host_name,
                   CASE WHEN regexp_full_match(e.when, '\\d{10,17}') THEN make_timestamp(e.when::BIGINT)::TIMESTAMPTZ
                        ELSE TRY_CAST(e.when AS TIMESTAMPTZ) END AS ts,
                   false AS ts_inferred
            FROM _journal_records r JOIN _journal_entries e USING (line)
            ORDER BY r.line""").to_arrow_table()
        # the journal names the host; the kernel text does not
        joined = joined.drop_columns(["syslog_host"])
        joined = joined.rename_columns([("syslog_host" if c == "host_name" else c) for c in joined.column_names])
        block = with_host_and_action(joined, self.hosts, self.writer.addresses)
        before, _, after = self.locator.partition("{}")
        locator_sql = f"'{before}' || line || '{after}'"
        self.writer.insert(block, NET_EVENTS_SELECT.format(locator=locator_sql), canonical=True)

    def finish(self) -> None:
        if self.n_other:
            self.ctx.warn(None, f"{self.n_other} journal entries are not netfilter packet logs, skipped")
        self.writer.deduplicate()


def _decode_message(value) -> str | None:
    """MESSAGE is a string, or an array of byte values when the journal holds non-UTF-8 data."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) for b in value):
        return bytes(b & 0xFF for b in value).decode("utf-8", errors="replace")
    return None


def parse_json_lines(ctx: ParseContext) -> None:
    loader = JournalLoader(ctx)
    con = ctx.con
    with ctx.open() as handle:
        for table, nread in iter_line_tables(handle):
            _journal_lines = table  # noqa: F841  (read by name)
            rows = con.sql("""
                SELECT line, j IS NOT NULL AS valid,
                       coalesce(json_extract_string(j, '$.MESSAGE'), json_extract_string(j, '$.message'))
                           AS message,
                       json_type(j, '$.MESSAGE') AS message_type,
                       coalesce(json_extract_string(j, '$.__REALTIME_TIMESTAMP'),
                                json_extract_string(j, '$."@timestamp"')) AS when,
                       coalesce(json_extract_string(j, '$._HOSTNAME'),
                                json_extract_string(j, '$.host.hostname'),
                                json_extract_string(j, '$.host.name')) AS host_name,
                       CASE WHEN j IS NULL THEN t END AS bad_text
                FROM (SELECT line, t, CASE WHEN json_valid(t) THEN t END AS j
                      FROM (SELECT line, """ + TEXT + """ AS t FROM _journal_lines))""").to_arrow_table()
            collected = _Rows()
            columns = rows.to_pydict()
            for line, valid, message, mtype, when, host, bad in zip(
                    columns["line"], columns["valid"], columns["message"], columns["message_type"],
                    columns["when"], columns["host_name"], columns["bad_text"]):
                if not valid:
                    ctx.warn(f"line:{line}", "not a JSON object (truncated or corrupt journal line)", bad)
                    continue
                if mtype == "ARRAY":
                    message = _decode_message(json.loads(message))
                if message is None or not _netfilter_in(message):
                    loader.n_other += 1
                    continue
                if when is None:
                    ctx.warn(f"line:{line}", "journal entry without __REALTIME_TIMESTAMP", message)
                    continue
                collected.add(line, message, when, host)
            loader.load(collected.table())
            ctx.advance(nread)
    loader.finish()


def parse_export(ctx: ParseContext) -> None:
    """``journalctl -o export``: entries of ``KEY=value`` lines separated by a blank line; a field
    with binary data is ``KEY`` alone on a line, then a 64-bit little-endian length and the data."""
    loader = JournalLoader(ctx)
    collected = _Rows()
    raw = ctx.local_path.read_bytes()
    position, line_no = 0, 1
    entry: dict[str, str] = {}
    entry_line = 1
    size = len(raw)

    def flush() -> None:
        nonlocal entry
        if entry:
            message = entry.get("MESSAGE")
            if message is None or not _netfilter_in(message):
                loader.n_other += 1
            elif "__REALTIME_TIMESTAMP" not in entry:
                ctx.warn(f"line:{entry_line}", "journal entry without __REALTIME_TIMESTAMP", message)
            else:
                collected.add(entry_line, message, entry["__REALTIME_TIMESTAMP"], entry.get("_HOSTNAME"))
        entry = {}

    while position < size:
        end = raw.find(b"\n", position)
        if end < 0:
            end = size
        line = raw[position:end]
        if not line:
            flush()
            position, line_no = end + 1, line_no + 1
            entry_line = line_no
            continue
        if b"=" in line:
            key, _, value = line.partition(b"=")
            entry[key.decode("utf-8", errors="replace")] = value.decode("utf-8", errors="replace")
            position, line_no = end + 1, line_no + 1
            continue
        # binary field: KEY\n<u64 length><data>\n
        key = line.decode("utf-8", errors="replace")
        start = end + 1
        if start + 8 > size:
            ctx.warn(f"line:{line_no}", "journal export ends inside a binary field", line)
            break
        length = int(np.frombuffer(raw[start:start + 8], dtype="<u8")[0])
        data = raw[start + 8:start + 8 + length]
        if len(data) < length:
            ctx.warn(f"line:{line_no}", "journal export ends inside a binary field", line)
            break
        entry[key] = data.decode("utf-8", errors="replace")
        line_no += 1 + data.count(b"\n") + 1
        position = start + 8 + length + 1
        if len(collected.numbers) >= 100_000:
            loader.load(collected.table())
            collected = _Rows()
    flush()
    loader.load(collected.table())
    ctx.advance(size)
    loader.finish()


def parse_envelope(ctx: ParseContext) -> None:
    """A JSON document ``{"events": [{message, @timestamp, host}, ...]}`` (Filebeat test exports)."""
    loader = JournalLoader(ctx, "events[{}]")
    try:
        document = json.loads(ctx.local_path.read_bytes().decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        ctx.warn(f"line:{exc.lineno}", f"not valid JSON: {exc.msg}", None)
        return
    events = document.get("events") if isinstance(document, dict) else document
    if not isinstance(events, list):
        ctx.warn(None, "JSON document without an events list", str(document)[:200])
        return
    collected = _Rows()
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            ctx.warn(f"events[{index}]", "event is not a JSON object", event)
            continue
        message = event.get("message") or event.get("MESSAGE")
        host = event.get("host") if isinstance(event.get("host"), dict) else {}
        when = event.get("@timestamp") or event.get("__REALTIME_TIMESTAMP")
        if not isinstance(message, str) or not _netfilter_in(message):
            loader.n_other += 1
            continue
        collected.add(index, message, when, host.get("hostname") or host.get("name"))
    loader.load(collected.table())
    loader.finish()


def parse(ctx: ParseContext) -> None:
    with ctx.open() as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"{"):
        first_line = head.split(b"\n", 1)[0].strip()
        try:
            json.loads(first_line)
            one_per_line = True
        except json.JSONDecodeError:
            one_per_line = False
        if one_per_line:
            parse_json_lines(ctx)
        else:
            parse_envelope(ctx)
    else:
        parse_export(ctx)


register(Parser(
    name=NAME,
    description="Netfilter LOG lines in the systemd journal (journalctl -o json / -o export, Filebeat JSON)",
    tables=("net_events",),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".json", ".export"),
))
