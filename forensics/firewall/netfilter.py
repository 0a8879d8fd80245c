"""Netfilter LOG lines at scale: a vectorised numpy reader with a per-line fallback.

Kernel firewall logs are the biggest files a responder gets (tens of millions of lines). A Python
loop with one regular expression per line reads about 0.2-0.3 million lines a second; DuckDB's
string functions cost about as much per field. This module instead looks at a block of lines
(tens of megabytes) at once: it finds every ``=`` in the block, names the key before it from the
four bytes that precede it, takes the first occurrence of each key per line and cuts values at the
next space, all with numpy array operations. Fields of the fixed kernel layout are chained and
checked (``SRC=`` must be followed by `` DST=`` and `` LEN=``, ``PROTO=TCP`` by `` SPT=`` and
`` DPT=``...). Any line that does not fit the common shapes exactly (a ``<pri>`` header, an ICMP
error quoting another packet, non-ASCII bytes, a prefix glued to ``IN=`` with a capital letter, a
truncated field) goes to :func:`.netfilter_line.parse_line`, the readable reference parser, so
odd lines cost more but are read the same way. The host and log prefix are read from the text
between the stamp and ``IN=`` once per distinct text, not once per line.

The result of a block is an Arrow table of records (see :data:`RECORD_SCHEMA`), the warnings
of the lines that looked like netfilter records but could not be read, and the number of other
lines (kernel messages that are not packet logs), which the caller reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .netfilter_line import (
    LineResult,
    actions_for,
    normalise_ip,
    parse_line,
    split_pre,
)
from .netfilter_scan import (
    FAST,
    I_CODE,
    I_DAY,
    I_DPT,
    I_DST_PLAIN,
    I_GID,
    I_HAS_FLAGS,
    I_HOUR,
    I_ID,
    I_KIND,
    I_LEN,
    I_MICRO,
    I_MINUTE,
    I_MONTH,
    I_OFFSET,
    I_SECOND,
    I_DST_INT,
    I_SPT,
    I_SRC_INT,
    I_SRC_PLAIN,
    I_TTL,
    I_TYPE,
    I_UID,
    I_UPTIME,
    I_YEAR,
    OTHER,
    S_DST,
    S_FLAGS,
    S_IN,
    S_MID1,
    S_MID2,
    S_OUT,
    S_PROTO,
    S_SRC,
    S_STAMP,
    SLOW,
    canonical_ipv6,
    gather,
    scan,
)
from .syslogtime import (
    LocalToUtc,
    YearTracker,
    days_from_civil,
    valid_civil,
    year_from_mtime,
)

PAD = 8  # bytes of padding around joined journal messages
NO_OFFSET = -(1 << 40)

STRING_FIELDS = ("ts_raw", "syslog_host", "prefix", "in_if", "out_if", "src", "dst", "proto", "tcp_flags")
INT_FIELDS = ("ip_len", "ttl", "ip_id", "spt", "dpt", "icmp_type", "icmp_code", "uid", "gid")
RECORD_SCHEMA = pa.schema(
    [("line", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("ts_inferred", pa.bool_())]
    + [(name, pa.string()) for name in STRING_FIELDS]
    + [(name, pa.int64()) for name in INT_FIELDS]
    + [("src_int", pa.int64()), ("dst_int", pa.int64())]
)


def line_bounds(block: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A block of complete lines (ending in a newline) as its bytes and each line's start and end
    offsets (the end excludes the newline and a carriage return before it)."""
    a = np.frombuffer(block, dtype=np.uint8)
    newlines = np.flatnonzero(a == 10)
    starts = np.empty(len(newlines), dtype=np.int64)
    if len(newlines):
        starts[0] = 0
        starts[1:] = newlines[:-1] + 1
    ends = newlines.astype(np.int64)
    ends -= (ends > starts) & (a[np.maximum(ends - 1, 0)] == 13)
    return a, starts, ends


@dataclass
class BlockResult:
    table: pa.Table
    warnings: list[tuple[int, str, str]] = field(default_factory=list)  # (line, reason, excerpt)
    n_other: int = 0  # lines that are not netfilter records (other kernel or syslog messages)
    n_slow: int = 0  # lines read by the reference parser


class TimeContext:
    """Turns stamp components into UTC, carrying the RFC 3164 year across blocks."""

    def __init__(self, tz_name: str | None, base_year: int | None, mtime: float | None = None) -> None:
        self.local = LocalToUtc(tz_name)
        self.base_year = base_year
        self.mtime = mtime
        self.years: YearTracker | None = None
        self.year_source: str | None = None
        self.used_year = False
        self.used_zone = False

    def start_years(self, first_month: int) -> None:
        """Begins year tracking at the file's first RFC 3164 stamp (see :mod:`.syslogtime`)."""
        if self.years is not None:
            return
        if self.base_year:
            base, self.year_source = int(self.base_year), "hint"
        elif self.mtime is not None:
            base, self.year_source = year_from_mtime(self.mtime, first_month), "mtime"
        else:
            base, self.year_source = datetime.now(timezone.utc).year, "clock"
        self.years = YearTracker(base)


# ---------------------------------------------------------------------------------------------
# The block reader
# ---------------------------------------------------------------------------------------------

class NetfilterReader:
    """Reads netfilter records from blocks of lines. ``with_header``: lines carry a syslog stamp
    and host (kern.log); without it they are bare kernel messages (journald ``MESSAGE``)."""

    def __init__(self, time: TimeContext | None, with_header: bool = True) -> None:
        self.time = time
        self.with_header = with_header
        self._ip_cache: dict[str, str | None] = {}
        self._middle_cache: dict[str, tuple[str | None, str | None]] = {}

    # -- addresses: normalised once per distinct text ------------------------------------------
    def _normalise_ips(self, column: pa.Array) -> tuple[pa.Array, np.ndarray]:
        unique = pc.unique(column)
        values = unique.to_pylist()
        cache = self._ip_cache
        if len(cache) > 500_000:
            cache.clear()
        normalised = []
        for value in values:
            if value is None:
                normalised.append(None)
                continue
            hit = cache.get(value, False)
            if hit is False:
                hit = normalise_ip(value)
                cache[value] = hit
            normalised.append(hit)
        mapped = pc.take(pa.array(normalised, type=pa.string()), pc.index_in(column, value_set=unique))
        return mapped, np.asarray(pc.is_valid(mapped).to_numpy(zero_copy_only=False))

    # -- one block -------------------------------------------------------------------------------
    def read_block(self, block: bytes, first_line: int) -> BlockResult:
        """A block of complete lines (ending in a newline) whose first line has number ``first_line``."""
        a, starts, ends = line_bounds(block)
        line_numbers = np.arange(first_line, first_line + len(starts), dtype=np.int64)
        return self.read(a, starts, ends, line_numbers, lambda i: block[starts[i]:ends[i]])

    def read_strings(self, values: pa.Array, line_numbers: np.ndarray) -> BlockResult:
        """Bare kernel messages (no stamp, no host) from an Arrow string array."""
        values = pc.fill_null(values.cast(pa.large_string()), "")
        offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + len(values) + 1]
        data = values.buffers()[2]
        raw = np.frombuffer(data, dtype=np.uint8)[int(offsets[0]):int(offsets[-1])] if data is not None \
            else np.zeros(0, dtype=np.uint8)
        lengths = np.diff(offsets)
        n = len(lengths)
        # one newline between messages, as between lines of a file
        starts = PAD + np.arange(n, dtype=np.int64) + (offsets[:-1] - offsets[0])
        a = np.full(PAD + len(raw) + n + PAD, 10, dtype=np.uint8)
        a[:PAD] = 32
        a[-PAD:] = 32
        if len(raw):
            a[np.repeat(starts - (offsets[:-1] - offsets[0]), lengths) + np.arange(len(raw))] = raw
        ends = starts + lengths
        # trailing whitespace of a MESSAGE is not part of the record
        while True:
            trim = (ends > starts) & ((a[ends - 1] == 32) | (a[ends - 1] == 10) | (a[ends - 1] == 13))
            if not trim.any():
                break
            ends = ends - trim
            a[ends[trim]] = 10
        return self.read(a, starts, ends, np.asarray(line_numbers, dtype=np.int64),
                         lambda i: a[starts[i]:ends[i]].tobytes())

    def read(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, line_numbers: np.ndarray,
             raw_line) -> BlockResult:
        """The engine: ``a`` holds the lines and ``starts``/``ends`` bound each one (consecutive
        lines separated by a newline). The compiled scanner reads the common shapes; the
        reference parser reads the rest."""
        n = len(starts)
        if n == 0:
            return BlockResult(RECORD_SCHEMA.empty_table())
        status, ints, spans = scan(a, starts, ends, self.with_header)
        slow = status == SLOW
        n_other = int((status == OTHER).sum())
        idx = np.flatnonzero(status == FAST)

        columns: dict[str, pa.Array] = {}
        if len(idx):
            everything = len(idx) == n
            sp = (spans if everything else spans[idx]).T  # columns as strided views, no copy
            iv = (ints if everything else ints[idx]).T
            none = np.full(len(idx), -1, dtype=np.int64)

            def text(span: int, valid: np.ndarray | None = None) -> pa.Array:
                s0, e0 = sp[2 * span], sp[2 * span + 1]
                offsets, data = gather(a, s0, e0, s0, s0, none)
                mask = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
                return pa.StringArray.from_buffers(len(idx), pa.py_buffer(offsets), pa.py_buffer(data),
                                                   mask, null_count=0 if valid is None else int((~valid).sum()))

            marker = np.where(iv[I_UPTIME] == 1, 0, -1).astype(np.int64)
            offsets, data = gather(a, sp[2 * S_MID1], sp[2 * S_MID1 + 1], sp[2 * S_MID2], sp[2 * S_MID2 + 1], marker)
            middles = pa.StringArray.from_buffers(len(idx), pa.py_buffer(offsets), pa.py_buffer(data))
            hosts, prefixes, middle_ok = self._split_middles(middles)
            src, src_ok = self._addresses(text(S_SRC), iv[I_SRC_PLAIN] == 1)
            dst, dst_ok = self._addresses(text(S_DST), iv[I_DST_PLAIN] == 1)
            columns = {
                "ts_raw": text(S_STAMP, iv[I_KIND] > 0),
                "syslog_host": hosts,
                "prefix": prefixes,
                "in_if": text(S_IN, sp[2 * S_IN + 1] > sp[2 * S_IN]),
                "out_if": text(S_OUT, sp[2 * S_OUT + 1] > sp[2 * S_OUT]),
                "src": src,
                "dst": dst,
                "proto": text(S_PROTO, sp[2 * S_PROTO] >= 0),
                "tcp_flags": text(S_FLAGS, iv[I_HAS_FLAGS] == 1),
            }
            columns["src_int"] = pa.array(iv[I_SRC_INT], type=pa.int64())
            columns["dst_int"] = pa.array(iv[I_DST_INT], type=pa.int64())
            for name, column in (("ip_len", I_LEN), ("ttl", I_TTL), ("ip_id", I_ID), ("spt", I_SPT),
                                 ("dpt", I_DPT), ("icmp_type", I_TYPE), ("icmp_code", I_CODE),
                                 ("uid", I_UID), ("gid", I_GID)):
                values = iv[column]
                columns[name] = pa.array(values, type=pa.int64(), mask=values < 0)
            good = src_ok & dst_ok & middle_ok
            if not good.all():  # the reference parser reads (and words the warning for) these
                slow[idx[~good]] = True
                keep = np.flatnonzero(good)
                columns = {k: v.take(pa.array(keep)) for k, v in columns.items()}
                idx = idx[keep]
        iv = (ints if len(idx) == n else ints[idx]).T
        components = {
            "line": line_numbers[idx], "kind": iv[I_KIND].astype(np.int8), "year": iv[I_YEAR],
            "month": iv[I_MONTH], "day": iv[I_DAY], "hour": iv[I_HOUR], "minute": iv[I_MINUTE],
            "second": iv[I_SECOND], "micro": iv[I_MICRO], "offset": iv[I_OFFSET],
        }

        # ---- the reference parser for everything else ---------------------------------------------
        warnings: list[tuple[int, str, str]] = []
        slow_rows: list[dict] = []
        slow_idx = np.flatnonzero(slow)
        for i in slow_idx:
            raw = raw_line(int(i))
            try:
                text_line = raw.decode("utf-8")
                undecodable = "\x00" in text_line
            except UnicodeDecodeError:
                text_line = raw.decode("utf-8", errors="replace")
                undecodable = True
            result: LineResult = parse_line(text_line, self.with_header)
            line_no = int(line_numbers[i])
            if result.record is None:
                if result.problem:
                    warnings.append((line_no, result.problem, raw))
                elif undecodable:
                    warnings.append((line_no, "line with bytes that are not UTF-8 text (binary junk?)", raw))
                else:
                    n_other += 1
                continue
            if self.with_header and result.stamp is None:
                warnings.append((line_no, "netfilter line without a syslog time stamp", raw))
                continue
            row = dict(result.record)
            row["line"] = line_no
            stamp = result.stamp
            row["ts_raw"] = stamp.raw if stamp else None
            row["_stamp"] = stamp
            slow_rows.append(row)
        table, time_warnings = self._assemble(columns, components, slow_rows)
        warnings.extend(time_warnings)
        return BlockResult(table, warnings, n_other, len(slow_idx))

    def _addresses(self, text: pa.Array, plain: np.ndarray) -> tuple[pa.Array, np.ndarray]:
        """Canonical address text: dotted quads the scanner found canonical stay as they are;
        IPv6 is canonicalised by the compiled RFC 5952 writer; anything else (IPv4 with leading
        zeros, an embedded dotted quad, junk) once per distinct value in Python."""
        if plain.all():
            return text, np.ones(len(text), dtype=bool)
        others = np.flatnonzero(~plain)
        subset = text.take(pa.array(others)).cast(pa.string())
        offsets = np.frombuffer(subset.buffers()[1], dtype=np.int32)[subset.offset:subset.offset + len(subset) + 1]
        data = np.frombuffer(subset.buffers()[2], dtype=np.uint8) if subset.buffers()[2] is not None \
            else np.zeros(0, dtype=np.uint8)
        out_offsets, out_data, v6 = canonical_ipv6(data, offsets.astype(np.int64))
        canonical = pa.StringArray.from_buffers(len(subset), pa.py_buffer(out_offsets), pa.py_buffer(out_data))
        valid = v6.copy()
        if not v6.all():  # the rest, in Python
            rest = np.flatnonzero(~v6)
            normalised, rest_valid = self._normalise_ips(subset.take(pa.array(rest)))
            mask = np.zeros(len(subset), dtype=bool)
            mask[rest] = True
            canonical = pc.replace_with_mask(canonical, pa.array(mask), normalised)
            valid[rest] = rest_valid
        merged = pc.replace_with_mask(text, pa.array(~plain), canonical)
        ok = np.ones(len(text), dtype=bool)
        ok[others] = valid
        return merged, ok

    def _split_middles(self, middles: pa.Array) -> tuple[pa.Array, pa.Array, np.ndarray]:
        """Host and prefix per distinct host/prefix text. An uptime cut out by the scanner is
        marked with NUL; a canonical uptime takes its place so the reference rules apply as on
        the original text (and a line where they would not strip it goes to the slow path)."""
        encoded = middles.dictionary_encode()
        hosts, prefixes, good = [], [], []
        for key in encoded.dictionary.to_pylist():
            hit = self._middle_cache.get(key)
            if hit is None:
                if "\x00" in key:
                    host, prefix = split_pre(key.replace("\x00", "[0.0]"), self.with_header)
                    fine = "[0.0]" not in (host or "") and "[0.0]" not in (prefix or "")
                else:
                    host, prefix = split_pre(key, self.with_header)
                    fine = True
                hit = (host, prefix, fine)
                if len(self._middle_cache) < 100_000:
                    self._middle_cache[key] = hit
            hosts.append(hit[0])
            prefixes.append(hit[1])
            good.append(hit[2])
        indices = encoded.indices
        ok = np.asarray(pa.array(good, type=pa.bool_()).take(indices).to_numpy(zero_copy_only=False))
        return (pc.take(pa.array(hosts, type=pa.string()), indices),
                pc.take(pa.array(prefixes, type=pa.string()), indices), ok)

    # -- time and assembly ----------------------------------------------------------------------
    def _assemble(self, columns: dict[str, pa.Array], comp: dict[str, np.ndarray],
                  slow_rows: list[dict]) -> tuple[pa.Table, list[tuple[int, str, str]]]:
        fast_n = len(comp["line"])
        if slow_rows:
            extra = {
                "line": np.array([r["line"] for r in slow_rows], dtype=np.int64),
                "kind": np.array([r["_stamp"].kind if r["_stamp"] else 0 for r in slow_rows], dtype=np.int8),
            }
            for name in ("year", "month", "day", "hour", "minute", "second", "micro"):
                extra[name] = np.array([getattr(r["_stamp"], name) if r["_stamp"] else 0 for r in slow_rows],
                                       dtype=np.int64)
            extra["offset"] = np.array([
                (r["_stamp"].offset if r["_stamp"] and r["_stamp"].offset is not None else NO_OFFSET)
                for r in slow_rows], dtype=np.int64)
            comp = {k: np.concatenate([comp[k], extra[k]]) for k in comp}
            slow_table = pa.table({name: pa.array([r.get(name) for r in slow_rows], type=pa.string())
                                   for name in STRING_FIELDS}
                                  | {name: pa.array([r.get(name) for r in slow_rows], type=pa.int64())
                                     for name in INT_FIELDS}
                                  | {name: pa.array([-1] * len(slow_rows), type=pa.int64())
                                     for name in ("src_int", "dst_int")})
            if fast_n:
                fast_table = pa.table({name: columns[name] for name in STRING_FIELDS + INT_FIELDS
                                       + ("src_int", "dst_int")})
                body = pa.concat_tables([fast_table, slow_table])
            else:
                body = slow_table
        elif fast_n:
            body = pa.table({name: columns[name] for name in STRING_FIELDS + INT_FIELDS + ("src_int", "dst_int")})
        else:
            return RECORD_SCHEMA.empty_table(), []
        # file order, so the RFC 3164 year rollover sees lines in sequence
        if slow_rows:
            order = np.argsort(comp["line"], kind="stable")
            comp = {k: v[order] for k, v in comp.items()}
            body = body.take(pa.array(order))
        ts_us, inferred, bad = self._times(comp)
        warnings = []
        if bad.any():
            raw_stamps = body.column("ts_raw").to_pylist()
            for i in np.flatnonzero(bad):
                warnings.append((int(comp["line"][i]), "impossible date or time in the stamp",
                                 raw_stamps[i] or ""))
            keep = np.flatnonzero(~bad)
            body = body.take(pa.array(keep))
            comp = {k: v[keep] for k, v in comp.items()}
            ts_us, inferred = ts_us[keep], inferred[keep]
        table = pa.table({
            "line": pa.array(comp["line"], type=pa.int64()),
            "ts": pa.array(ts_us, type=pa.timestamp("us", tz="UTC"), mask=(comp["kind"] == 0)),
            "ts_inferred": pa.array(inferred, type=pa.bool_()),
        })
        for name in STRING_FIELDS + INT_FIELDS + ("src_int", "dst_int"):
            table = table.append_column(name, body.column(name))
        return table, warnings

    def _times(self, comp: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return times_from_components(self.time, comp)


def times_from_components(time: TimeContext | None, comp: dict[str, np.ndarray]
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """UTC microseconds, inferred flags and impossible-date flags for stamp components in file
    order (kind 1 RFC 3164, 2 ISO, 0 none; offset NO_OFFSET when the stamp had no zone)."""
    kind = comp["kind"]
    year = comp["year"].copy()
    bsd = (kind == 1) & (year == 0)
    if bsd.any() and time is not None:
        if time.years is None:
            time.start_years(int(comp["month"][np.flatnonzero(bsd)[0]]))
        year[bsd] = time.years.assign(np.where(bsd, comp["month"], 0), comp["line"])[bsd]
        time.used_year = True
    month, day = comp["month"], comp["day"]
    hour, minute, second = comp["hour"], comp["minute"], comp["second"]
    stamped = kind > 0
    valid = valid_civil(year, month, day, hour, minute, second)
    bad = stamped & ~valid
    safe_month = np.where(valid, month, 1)
    safe_day = np.where(valid, day, 1)
    naive = (days_from_civil(year, safe_month, safe_day) * 86400 + hour * 3600 + minute * 60 + second)
    has_offset = comp["offset"] != NO_OFFSET
    utc = np.where(has_offset, naive - np.where(has_offset, comp["offset"], 0), naive)
    local = stamped & ~has_offset
    if local.any() and time is not None:
        utc[local] = time.local(naive[local])
        time.used_zone = True
    ts_us = utc * 1_000_000 + comp["micro"]
    inferred = (kind == 1) | local
    return ts_us, inferred, bad


def iter_line_blocks(handle, block_size: int = 16 << 20) -> Iterator[tuple[bytes, int, int]]:
    """Blocks of complete lines from a binary file: (bytes, number of the first line, bytes read)."""
    carry = b""
    line_no = 1
    while True:
        chunk = handle.read(block_size)
        if not chunk:
            break
        data = carry + chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        block, carry = data[:cut], data[cut:]
        yield block, line_no, len(chunk)
        line_no += block.count(b"\n")
    if carry:
        yield carry + b"\n", line_no, 0


# Turns the reader's Arrow table (with ``host`` and ``action`` added) into net_events rows; "v" is
# the block and {locator} the SQL of the locator. The dedup_key must be computed the same way by every parser of the netfilter family.
NET_EVENTS_SELECT = """
SELECT ts, ts_raw, ts_inferred, host, src AS src_ip, spt AS src_port, dst AS dst_ip, dpt AS dst_port,
       direction::VARCHAR AS direction,
       CASE WHEN upper(proto) IN ('TCP', 'UDP', 'ICMP', 'ICMPV6', 'SCTP', 'UDPLITE', 'DCCP', 'ESP', 'AH', 'GRE')
            THEN lower(proto) ELSE proto END AS proto,
       action, ip_len AS bytes_out, 1 AS packets_out, nullif(tcp_flags, '') AS tcp_flags,
       prefix AS rule, {locator} AS locator,
       hash(host, src, dst, spt, dpt, upper(proto), ip_len, ip_id, tcp_flags, prefix, in_if, out_if,
            icmp_type, icmp_code) AS dedup_key,
       -- only the fields a line has (written directly: json_object costs a third more)
       ('{{' || concat_ws(',', CASE WHEN in_if IS NOT NULL THEN '"in":' || to_json(in_if) END,
                         CASE WHEN out_if IS NOT NULL THEN '"out":' || to_json(out_if) END,
                         CASE WHEN ttl IS NOT NULL THEN '"ttl":' || ttl END,
                         CASE WHEN ip_id IS NOT NULL THEN '"ip_id":' || ip_id END,
                         CASE WHEN icmp_type IS NOT NULL THEN '"icmp_type":' || icmp_type END,
                         CASE WHEN icmp_code IS NOT NULL THEN '"icmp_code":' || icmp_code END,
                         CASE WHEN uid IS NOT NULL THEN '"uid":' || uid END,
                         CASE WHEN gid IS NOT NULL THEN '"gid":' || gid END,
                         CASE WHEN syslog_host IS NOT NULL THEN '"syslog_host":' || to_json(syslog_host) END)
        || '}}')::JSON AS extra
FROM v
"""


def with_host_and_action(table: pa.Table, hosts, addresses=None) -> pa.Table:
    """Adds ``host`` (inventory name, file hint, or the logged name) and ``action`` (from the
    prefix), both computed once per distinct value, and ``direction`` (from ``addresses``, a
    :class:`.addresses.ClusterAddresses`; IPv4 as integers in numpy)."""
    syslog_host = table.column("syslog_host").combine_chunks().dictionary_encode()
    names = [hosts.resolve(name) for name in syslog_host.dictionary.to_pylist()]
    host = pa.array(names, type=pa.string()).take(syslog_host.indices)
    fallback = hosts.resolve(None)
    if fallback is not None:
        host = pc.fill_null(host, fallback)
    prefix = table.column("prefix").combine_chunks()
    table = table.append_column("host", host)
    table = table.append_column("action", actions_for(prefix))
    if addresses is not None:
        src_int = table.column("src_int").to_numpy() if "src_int" in table.column_names else \
            np.full(len(table), -1, dtype=np.int64)
        dst_int = table.column("dst_int").to_numpy() if "dst_int" in table.column_names else \
            np.full(len(table), -1, dtype=np.int64)
        direction = addresses.direction_array(src_int, dst_int, table.column("src").combine_chunks(),
                                              table.column("dst").combine_chunks())
        table = table.append_column("direction", direction)
    return table




def stamp_components(stamps: list, line_numbers: list[int]) -> dict[str, np.ndarray]:
    """The component arrays of :func:`times_from_components` for parsed :class:`Stamp` objects
    (None for a line without a stamp)."""
    def col(name: str, default: int = 0) -> np.ndarray:
        return np.array([getattr(s, name) if s is not None else default for s in stamps], dtype=np.int64)

    return {
        "line": np.asarray(line_numbers, dtype=np.int64),
        "kind": np.array([s.kind if s is not None else 0 for s in stamps], dtype=np.int8),
        "year": col("year"), "month": col("month"), "day": col("day"), "hour": col("hour"),
        "minute": col("minute"), "second": col("second"), "micro": col("micro"),
        "offset": np.array([(s.offset if s is not None and s.offset is not None else NO_OFFSET) for s in stamps],
                           dtype=np.int64),
    }
