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
    ICMP_PROTOCOLS,
    PORT_PROTOCOLS,
    LineResult,
    actions_for,
    normalise_ip,
    parse_line,
    split_pre,
)
from .syslogtime import (
    LocalToUtc,
    YearTracker,
    days_from_civil,
    month_from_codes,
    valid_civil,
    year_from_mtime,
)

PAD = 64  # bytes of padding around a block so fixed-width windows never leave the buffer
NO_OFFSET = -(1 << 40)

STRING_FIELDS = ("ts_raw", "syslog_host", "prefix", "in_if", "out_if", "src", "dst", "proto", "tcp_flags")
INT_FIELDS = ("ip_len", "ttl", "ip_id", "spt", "dpt", "icmp_type", "icmp_code", "uid", "gid")
RECORD_SCHEMA = pa.schema(
    [("line", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("ts_inferred", pa.bool_())]
    + [(name, pa.string()) for name in STRING_FIELDS]
    + [(name, pa.int64()) for name in INT_FIELDS]
)


def _code(text: str) -> int:
    raw = text.encode()
    value = 0
    for byte in raw:
        value = (value << 8) | byte
    return value


# Keys, named by the four bytes before "=" (big-endian): " SRC", "ROTO" (PROTO), " ID" (3 bytes).
K_SRC, K_PROTO, K_TTL, K_LIMIT, K_RES, K_URGP = (_code(" SRC"), _code("ROTO"), _code(" TTL"),
                                                  _code("IMIT"), _code(" RES"), _code("URGP"))
K_UID, K_GID, K_DPT = _code(" UID"), _code(" GID"), _code(" DPT")
K_ID3 = _code(" ID")


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
# Vectorised helpers
# ---------------------------------------------------------------------------------------------

def _codes4(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The four bytes before each position, big-endian (the key name before '=')."""
    return ((a[pos - 4].astype(np.uint32) << 24) | (a[pos - 3].astype(np.uint32) << 16)
            | (a[pos - 2].astype(np.uint32) << 8) | a[pos - 1].astype(np.uint32))


def _first_per_line(pos: np.ndarray, lines: np.ndarray, n: int) -> np.ndarray:
    """For sorted positions and their (non-decreasing) line indexes: the first position per line,
    -1 where a line has none."""
    out = np.full(n, -1, dtype=np.int64)
    if len(pos):
        keep = np.empty(len(pos), dtype=bool)
        keep[0] = True
        keep[1:] = lines[1:] != lines[:-1]
        out[lines[keep]] = pos[keep]
    return out


def _bytes_equal(a: np.ndarray, start: np.ndarray, word: bytes) -> np.ndarray:
    ok = np.ones(len(start), dtype=bool)
    for i, byte in enumerate(word):
        ok &= a[start + i] == byte
    return ok


def _digits(a: np.ndarray, start: np.ndarray, end: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Unsigned decimals in a[start:end] (at most ``width`` digits): values and validity."""
    length = end - start
    ok = (length >= 1) & (length <= width)
    value = np.zeros(len(start), dtype=np.int64)
    for j in range(width):
        digit = a[start + j].astype(np.int64) - 48
        inside = j < length
        ok &= ~inside | ((digit >= 0) & (digit <= 9))
        value = np.where(inside, value * 10 + digit, value)
    return value, ok


def _fixed_int(a: np.ndarray, start: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    value = np.zeros(len(start), dtype=np.int64)
    ok = np.ones(len(start), dtype=bool)
    for j in range(width):
        digit = a[start + j].astype(np.int64) - 48
        ok &= (digit >= 0) & (digit <= 9)
        value = value * 10 + digit
    return value, ok


def _strings(a: np.ndarray, start: np.ndarray, end: np.ndarray, valid: np.ndarray) -> pa.Array:
    """Arrow strings a[start:end] per row (null where not ``valid``), gathered without a Python loop."""
    n = len(start)
    length = np.where(valid, np.maximum(end - start, 0), 0).astype(np.int64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(length, out=offsets[1:])
    total = int(offsets[-1])
    if total:
        index = np.arange(total, dtype=np.int64) + np.repeat(start - offsets[:-1], length)
        data = a[index].tobytes()
    else:
        data = b""
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little").tobytes())
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data),
                                            bitmap, null_count=int(n - valid.sum())).cast(pa.string())


def _next_space(spaces: np.ndarray, start: np.ndarray, line_end: np.ndarray) -> np.ndarray:
    if len(spaces) == 0:
        return line_end.copy()
    j = np.searchsorted(spaces, start)
    nxt = spaces[np.minimum(j, len(spaces) - 1)]
    nxt = np.where(j < len(spaces), nxt, line_end)
    return np.minimum(nxt, line_end)


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
                hit = normalise_ip(value) if not _plain_ipv4(value) else value
                cache[value] = hit
            normalised.append(hit)
        mapped = pc.take(pa.array(normalised, type=pa.string()), pc.index_in(column, value_set=unique))
        return mapped, np.asarray(pc.is_valid(mapped).to_numpy(zero_copy_only=False))

    def _split_middles(self, middles: pa.Array) -> tuple[pa.Array, pa.Array]:
        encoded = middles.dictionary_encode()
        hosts, prefixes = [], []
        for text in encoded.dictionary.to_pylist():
            hit = self._middle_cache.get(text)
            if hit is None:
                hit = split_pre(text, self.with_header)
                if len(self._middle_cache) < 100_000:
                    self._middle_cache[text] = hit
            hosts.append(hit[0])
            prefixes.append(hit[1])
        indices = encoded.indices
        return (pc.take(pa.array(hosts, type=pa.string()), indices),
                pc.take(pa.array(prefixes, type=pa.string()), indices))

    # -- one block -------------------------------------------------------------------------------
    def read_block(self, block: bytes, first_line: int) -> BlockResult:
        """A block of complete lines (ending in a newline) whose first line has number ``first_line``."""
        a = np.frombuffer(b" " * PAD + block + b" " * PAD, dtype=np.uint8)
        newlines = np.flatnonzero(a == 10)
        n = len(newlines)
        starts = np.empty(n, dtype=np.int64)
        starts[0] = PAD
        starts[1:] = newlines[:-1] + 1
        ends = newlines.astype(np.int64)
        ends -= (a[np.maximum(ends - 1, 0)] == 13) & (ends > starts)  # CRLF
        line_numbers = np.arange(first_line, first_line + n, dtype=np.int64)
        return self.read(a, starts, ends, line_numbers, lambda i: block[starts[i] - PAD:ends[i] - PAD])

    def read_strings(self, values: pa.Array, line_numbers: np.ndarray) -> BlockResult:
        """Bare kernel messages (no stamp, no host) from an Arrow string array."""
        values = pc.fill_null(values.cast(pa.large_string()), "")
        offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset:values.offset + len(values) + 1]
        data = values.buffers()[2]
        raw = data.to_pybytes()[int(offsets[0]):int(offsets[-1])] if data is not None else b""
        a = np.frombuffer(b" " * PAD + raw + b" " * PAD, dtype=np.uint8)
        starts = (offsets[:-1] - offsets[0] + PAD).astype(np.int64)
        ends = (offsets[1:] - offsets[0] + PAD).astype(np.int64)
        # trailing whitespace of a MESSAGE is not part of the record
        while True:
            trim = (ends > starts) & ((a[ends - 1] == 32) | (a[ends - 1] == 10) | (a[ends - 1] == 13))
            if not trim.any():
                break
            ends = ends - trim
        return self.read(a, starts, ends, np.asarray(line_numbers, dtype=np.int64),
                         lambda i: raw[starts[i] - PAD:ends[i] - PAD])

    def read(self, a: np.ndarray, starts: np.ndarray, ends: np.ndarray, line_numbers: np.ndarray,
             raw_line) -> BlockResult:
        n = len(starts)
        if n == 0:
            return BlockResult(RECORD_SCHEMA.empty_table())
        lo, hi = int(starts[0]), int(ends[-1])
        body = a[lo:hi]

        def line_of(pos: np.ndarray) -> np.ndarray:
            return np.searchsorted(starts, pos, side="right") - 1

        # Lines with bytes outside printable ASCII go to the reference parser (UTF-8 text, junk).
        odd_pos = np.flatnonzero((body - np.uint8(32)) >= np.uint8(95)) + lo
        odd_pos = odd_pos[(a[odd_pos] != 10) & (a[odd_pos] != 13)]
        odd = np.zeros(n, dtype=bool)
        if len(odd_pos):
            odd_lines = line_of(odd_pos)
            odd[odd_lines[odd_pos < ends[odd_lines]]] = True

        eq = np.flatnonzero(body == 61) + lo
        eq = eq[eq >= starts[0] + 4]
        codes = _codes4(a, eq)
        spaces = np.flatnonzero(body == 32) + lo

        def key(mask: np.ndarray, after: np.ndarray | None = None, before: np.ndarray | None = None) -> np.ndarray:
            pos = eq[mask]
            lines = line_of(pos)
            inside = pos < ends[lines]
            if after is not None:
                inside &= pos > after[lines]
            if before is not None:
                inside &= pos < before[lines]
            return _first_per_line(pos[inside], lines[inside], n)

        # ---- stamp ------------------------------------------------------------------------
        ok = np.ones(n, dtype=bool)
        length = ends - starts
        stamp_kind = np.zeros(n, dtype=np.int8)
        stamp_end = starts.copy()
        year = np.zeros(n, dtype=np.int64)
        month = np.zeros(n, dtype=np.int64)
        day = np.zeros(n, dtype=np.int64)
        hour = np.zeros(n, dtype=np.int64)
        minute = np.zeros(n, dtype=np.int64)
        second = np.zeros(n, dtype=np.int64)
        micro = np.zeros(n, dtype=np.int64)
        offset = np.full(n, NO_OFFSET, dtype=np.int64)
        if self.with_header:
            s = starts
            upper = (a[s] >= 65) & (a[s] <= 90)
            bsd = (upper & (length >= 17) & (a[s + 3] == 32) & (a[s + 6] == 32) & (a[s + 9] == 58)
                   & (a[s + 12] == 58) & (a[s + 15] == 32))
            mcode = (a[s].astype(np.int64) << 16) | (a[s + 1].astype(np.int64) << 8) | a[s + 2].astype(np.int64)
            bmonth = month_from_codes(mcode)
            d1 = a[s + 4].astype(np.int64)
            bday_ok = (d1 == 32) | ((d1 >= 48) & (d1 <= 57))
            bday, ok2 = _fixed_int(a, s + 5, 1)
            bday = np.where(d1 == 32, bday, (d1 - 48) * 10 + bday)
            bh, okh = _fixed_int(a, s + 7, 2)
            bm, okm = _fixed_int(a, s + 10, 2)
            bs, oks = _fixed_int(a, s + 13, 2)
            bsd &= (bmonth > 0) & bday_ok & ok2 & okh & okm & oks
            iso = ((length >= 21) & (a[s + 4] == 45) & (a[s + 7] == 45) & (a[s + 10] == 84)
                   & (a[s + 13] == 58) & (a[s + 16] == 58))
            iy, oky = _fixed_int(a, s, 4)
            imo, okmo = _fixed_int(a, s + 5, 2)
            idy, okd = _fixed_int(a, s + 8, 2)
            ih, okih = _fixed_int(a, s + 11, 2)
            imi, okimi = _fixed_int(a, s + 14, 2)
            isec, okis = _fixed_int(a, s + 17, 2)
            iso &= oky & okmo & okd & okih & okimi & okis
            iend = _next_space(spaces, s, ends)
            # fraction and offset after the seconds
            p = s + 19
            has_frac = a[p] == 46
            ndig = np.zeros(n, dtype=np.int64)
            counting = has_frac.copy()
            for j in range(1, 10):
                dj = a[p + j]
                isdig = counting & (dj >= 48) & (dj <= 57)
                ndig += isdig
                counting &= isdig
            frac_val, _ = _digits(a, p + 1, p + 1 + np.minimum(ndig, 6), 6)
            frac_us = frac_val * (10 ** (6 - np.minimum(ndig, 6)))
            r = np.where(has_frac, p + 1 + ndig, p)
            iso &= ~has_frac | (ndig > 0)
            rest = iend - r
            zulu = (rest == 1) & ((a[r] == 90) | (a[r] == 122))
            sign = np.where(a[r] == 43, 1, np.where(a[r] == 45, -1, 0))
            oh, okoh = _fixed_int(a, r + 1, 2)
            om6, okom6 = _fixed_int(a, r + 4, 2)
            om5, okom5 = _fixed_int(a, r + 3, 2)
            colon = (rest == 6) & (sign != 0) & okoh & (a[r + 3] == 58) & okom6
            nocolon = (rest == 5) & (sign != 0) & okoh & okom5
            naive = rest == 0
            iso &= zulu | colon | nocolon | naive
            ioff = np.where(zulu, 0, np.where(colon, sign * (oh * 3600 + om6 * 60),
                                              np.where(nocolon, sign * (oh * 3600 + om5 * 60), NO_OFFSET)))
            stamp_kind = np.where(bsd, 1, np.where(iso, 2, 0)).astype(np.int8)
            stamp_end = np.where(bsd, s + 15, np.where(iso, iend, s))
            year = np.where(iso, iy, 0)
            month = np.where(bsd, bmonth, np.where(iso, imo, 0))
            day = np.where(bsd, bday, np.where(iso, idy, 0))
            hour = np.where(bsd, bh, np.where(iso, ih, 0))
            minute = np.where(bsd, bm, np.where(iso, imi, 0))
            second = np.where(bsd, bs, np.where(iso, isec, 0))
            micro = np.where(iso, frac_us, 0)
            offset = np.where(iso, ioff, NO_OFFSET)
            ok &= stamp_kind > 0
            middle_start = np.where(ok, stamp_end + 1, starts)
        else:
            middle_start = starts.copy()

        # ---- IN= and OUT= -------------------------------------------------------------------
        c2 = codes & 0xFFFF
        prev = a[eq - 3]
        in_mask = (c2 == _code("IN")) & ~((prev >= 65) & (prev <= 90))
        in_pos = key(in_mask, after=middle_start - 1)
        has_in = in_pos >= 0
        ok &= has_in
        in_pos_safe = np.where(has_in, in_pos, starts)
        in_val = in_pos_safe + 1
        in_end = _next_space(spaces, in_val, ends)
        ok &= _bytes_equal(a, in_end, b" OUT=")
        out_val = in_end + 5
        out_end = _next_space(spaces, out_val, ends)

        # An ICMP error quotes the offending packet in brackets: the reference parser cuts it off.
        brackets = np.flatnonzero(body == 91) + lo
        if len(brackets):
            bl = line_of(brackets)
            inner = brackets > in_pos_safe[bl]
            quoted = np.zeros(n, dtype=bool)
            quoted[bl[inner]] = True
            ok &= ~quoted

        # ---- SRC DST LEN ----------------------------------------------------------------------
        src_pos = key(codes == K_SRC, after=out_end - 1)
        has_src = src_pos >= 0
        ok &= has_src
        src_val = np.where(has_src, src_pos + 1, starts)
        src_end = _next_space(spaces, src_val, ends)
        ok &= _bytes_equal(a, src_end, b" DST=")
        dst_val = src_end + 5
        dst_end = _next_space(spaces, dst_val, ends)
        ok &= _bytes_equal(a, dst_end, b" LEN=")
        len_val = dst_end + 5
        len_end = _next_space(spaces, len_val, ends)
        ip_len, okl = _digits(a, len_val, len_end, 5)
        ok &= okl & (ip_len <= 65535)

        # ---- PROTO and what follows it --------------------------------------------------------
        proto_mask = (codes == K_PROTO) & (a[eq - 5] == 80) & (a[eq - 6] == 32)
        proto_pos = key(proto_mask, after=len_end - 1)
        has_proto = proto_pos >= 0
        ok &= has_proto
        proto_val = np.where(has_proto, proto_pos + 1, starts)
        proto_end = _next_space(spaces, proto_val, ends)
        proto_len = proto_end - proto_val

        def is_word(word: bytes) -> np.ndarray:
            return (proto_len == len(word)) & _bytes_equal(a, proto_val, word)

        ported = np.zeros(n, dtype=bool)
        for word in PORT_PROTOCOLS:
            ported |= is_word(word.encode())
        icmp = is_word(b"ICMP") | is_word(b"ICMPv6")
        # the reference parser compares upper-cased names: leave other spellings to it
        for word in PORT_PROTOCOLS | ICMP_PROTOCOLS:
            ok &= ~(is_word(word.lower().encode()))

        first_val = proto_end + 5
        first_key_ok = np.where(ported, _bytes_equal(a, proto_end, b" SPT="),
                                np.where(icmp, _bytes_equal(a, proto_end, b" TYPE="), True))
        first_val = np.where(icmp, proto_end + 6, first_val)
        first_end = _next_space(spaces, first_val, ends)
        second_ok = np.where(ported, _bytes_equal(a, first_end, b" DPT="),
                             np.where(icmp, _bytes_equal(a, first_end, b" CODE="), True))
        second_val = np.where(icmp, first_end + 6, first_end + 5)
        second_end = _next_space(spaces, second_val, ends)
        ok &= first_key_ok & second_ok
        first_num, okf = _digits(a, first_val, first_end, 5)
        second_num, oks2 = _digits(a, second_val, second_end, 5)
        limit = np.where(ported, 65535, 255)
        need = ported | icmp
        ok &= ~need | (okf & oks2 & (first_num <= limit) & (second_num <= limit))

        # ---- TTL / HOPLIMIT and IP id (before PROTO) ----------------------------------------
        ttl_pos = key(codes == K_TTL, after=len_end - 1, before=proto_pos)
        lim_pos = key((codes == K_LIMIT) & (a[eq - 5] == 76) & (a[eq - 6] == 80) & (a[eq - 8] == 32),
                      after=len_end - 1, before=proto_pos)
        ttl_pos = np.where(ttl_pos >= 0, ttl_pos, lim_pos)
        has_ttl = ttl_pos >= 0
        ttl_val = np.where(has_ttl, ttl_pos + 1, starts)
        ttl, okt = _digits(a, ttl_val, _next_space(spaces, ttl_val, ends), 3)
        ok &= ~has_ttl | (okt & (ttl <= 255))
        id_pos = key((codes & 0xFFFFFF) == K_ID3, after=len_end - 1, before=proto_pos)
        has_id = id_pos >= 0
        id_val = np.where(has_id, id_pos + 1, starts)
        ip_id, oki = _digits(a, id_val, _next_space(spaces, id_val, ends), 5)
        ok &= ~has_id | (oki & (ip_id <= 65535))

        # ---- TCP flags: the bare words between RES=0x.. and URGP= ------------------------------
        tcp = is_word(b"TCP")
        res_pos = key((codes == K_RES), after=proto_pos)
        urgp_pos = key((codes == K_URGP) & (a[eq - 5] == 32), after=proto_pos)
        has_res = res_pos >= 0
        ok &= ~tcp | ~has_res | (urgp_pos > res_pos)
        res_val = np.where(has_res, res_pos + 1, starts)
        res_end = _next_space(spaces, res_val, ends)
        flags_start = res_end + 1
        flags_end = np.maximum(urgp_pos - 5, flags_start)
        has_flags = tcp & has_res

        # ---- UID / GID of a local socket --------------------------------------------------------
        uid_pos = key(codes == K_UID, after=proto_pos)
        gid_pos = key(codes == K_GID, after=proto_pos)
        has_uid, has_gid = uid_pos >= 0, gid_pos >= 0
        uid_val = np.where(has_uid, uid_pos + 1, starts)
        gid_val = np.where(has_gid, gid_pos + 1, starts)
        uid, oku = _digits(a, uid_val, _next_space(spaces, uid_val, ends), 10)
        gid, okg = _digits(a, gid_val, _next_space(spaces, gid_val, ends), 10)
        ok &= (~has_uid | (oku & (uid <= 4294967295))) & (~has_gid | (okg & (gid <= 4294967295)))

        # ---- the host / prefix text between stamp and IN= (uptime "[  123.456789] " left out) ----
        middle_end = np.where(has_in, in_pos_safe - 2, middle_start)
        up_start = np.full(n, -1, dtype=np.int64)
        up_end = np.full(n, -1, dtype=np.int64)
        closes = np.flatnonzero(body == 93) + lo
        if len(closes):
            cl = line_of(closes)
            cand = (closes > middle_start[cl]) & (closes < middle_end[cl]) & (a[closes - 7] == 46)
            for j in range(1, 7):
                cand &= (a[closes - j] >= 48) & (a[closes - j] <= 57)
            q = _first_per_line(closes[cand], cl[cand], n)
            has_q = q >= 0
            qs = np.where(has_q, q, starts)
            found = np.zeros(n, dtype=bool)
            for k in range(9, 24):
                at = qs - k
                hit = has_q & ~found & (at >= middle_start) & (a[at] == 91)
                up_start = np.where(hit, at, up_start)
                found |= hit
            # everything between '[' and '.' must be digits or spaces
            inner_ok = found.copy()
            for k in range(1, 16):
                at = up_start + k
                within = found & (at < qs - 7)
                ch = a[np.where(within, at, 0)]
                inner_ok &= ~within | (ch == 32) | ((ch >= 48) & (ch <= 57))
            kernel_before = _bytes_equal(a, np.maximum(up_start - 8, 0), b"kernel: ")
            valid_up = inner_ok & (kernel_before | (up_start == middle_start))
            up_end = np.where(valid_up, qs + 1, -1)
            up_start = np.where(valid_up, up_start, -1)
            # a space after the uptime belongs to it
            up_end = np.where((up_end > 0) & (a[np.maximum(up_end, 0)] == 32), up_end + 1, up_end)

        # ---- decide the path of each line ---------------------------------------------------------
        interesting = has_in | has_src | has_proto | (key(codes == K_DPT) >= 0)
        fast = ok & ~odd
        slow = ~fast & (interesting | odd)
        n_other = int((~fast & ~slow).sum())
        idx = np.flatnonzero(fast)

        columns: dict[str, pa.Array] = {}
        if len(idx):
            def take(x):
                return x[idx]

            s_ = take(starts)
            m0, m1 = take(middle_start), take(middle_end)
            us, ue = take(up_start), take(up_end)
            has_up = us >= 0
            # middle = [m0, us) + [ue, m1) when an uptime was cut out, else [m0, m1)
            a_end = np.where(has_up, us, m1)
            b_start = np.where(has_up, ue, m1)
            seg_start = np.stack([m0, b_start], axis=1).ravel()
            seg_end = np.stack([a_end, np.maximum(m1, b_start)], axis=1).ravel()
            seg = _strings(a, seg_start, seg_end, np.ones(len(seg_start), dtype=bool))
            middles = pc.binary_join_element_wise(seg[0::2], seg[1::2], "")
            hosts, prefixes = self._split_middles(middles)
            true = np.ones(len(idx), dtype=bool)
            src_raw = _strings(a, take(src_val), take(src_end), true)
            dst_raw = _strings(a, take(dst_val), take(dst_end), true)
            src, src_ok = self._normalise_ips(src_raw)
            dst, dst_ok = self._normalise_ips(dst_raw)
            columns = {
                "ts_raw": _strings(a, s_, take(stamp_end), take(stamp_kind) > 0),
                "syslog_host": hosts,
                "prefix": prefixes,
                "in_if": _strings(a, take(in_val), take(in_end), take(in_end) > take(in_val)),
                "out_if": _strings(a, take(out_val), take(out_end), take(out_end) > take(out_val)),
                "src": src,
                "dst": dst,
                "proto": _strings(a, take(proto_val), take(proto_end), true),
                "tcp_flags": _strings(a, take(flags_start), take(flags_end), take(has_flags)),
            }
            ints = {
                "ip_len": (take(ip_len), true),
                "ttl": (take(ttl), take(has_ttl)),
                "ip_id": (take(ip_id), take(has_id)),
                "spt": (take(first_num), take(ported)),
                "dpt": (take(second_num), take(ported)),
                "icmp_type": (take(first_num), take(icmp)),
                "icmp_code": (take(second_num), take(icmp)),
                "uid": (take(uid), take(has_uid)),
                "gid": (take(gid), take(has_gid)),
            }
            for name, (values, valid) in ints.items():
                columns[name] = pa.array(values, type=pa.int64(), mask=~valid)
            addr_ok = src_ok & dst_ok
            if not addr_ok.all():  # invalid addresses: the reference parser words the warning
                slow[idx[~addr_ok]] = True
                keep = np.flatnonzero(addr_ok)
                columns = {k: v.take(pa.array(keep)) for k, v in columns.items()}
                idx = idx[keep]
        components = {
            "line": line_numbers[idx], "kind": stamp_kind[idx], "year": year[idx], "month": month[idx],
            "day": day[idx], "hour": hour[idx], "minute": minute[idx], "second": second[idx],
            "micro": micro[idx], "offset": offset[idx],
        }

        # ---- the reference parser for everything else ---------------------------------------------
        warnings: list[tuple[int, str, str]] = []
        slow_rows: list[dict] = []
        slow_idx = np.flatnonzero(slow)
        for i in slow_idx:
            raw = raw_line(int(i))
            try:
                text = raw.decode("utf-8")
                undecodable = "\x00" in text
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="replace")
                undecodable = True
            result: LineResult = parse_line(text, self.with_header)
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
                                     for name in INT_FIELDS})
            if fast_n:
                fast_table = pa.table({name: columns[name] for name in STRING_FIELDS + INT_FIELDS})
                body = pa.concat_tables([fast_table, slow_table])
            else:
                body = slow_table
        elif fast_n:
            body = pa.table({name: columns[name] for name in STRING_FIELDS + INT_FIELDS})
        else:
            return RECORD_SCHEMA.empty_table(), []
        # file order, so the RFC 3164 year rollover sees lines in sequence
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
        for name in STRING_FIELDS + INT_FIELDS:
            table = table.append_column(name, body.column(name))
        return table, warnings

    def _times(self, comp: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n = len(comp["line"])
        kind = comp["kind"]
        year = comp["year"].copy()
        bsd = (kind == 1) & (year == 0)
        if bsd.any() and self.time is not None:
            if self.time.years is None:
                self.time.start_years(int(comp["month"][np.flatnonzero(bsd)[0]]))
            year[bsd] = self.time.years.assign(np.where(bsd, comp["month"], 0), comp["line"])[bsd]
            self.time.used_year = True
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
        if local.any() and self.time is not None:
            utc[local] = self.time.local(naive[local])
            self.time.used_zone = True
        ts_us = utc * 1_000_000 + comp["micro"]
        inferred = (kind == 1) | local
        return ts_us, inferred, bad


def _plain_ipv4(text: str) -> bool:
    """Dotted-quad text that needs no normalisation (no leading zeros, each part <= 255)."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or len(part) > 3 or (len(part) > 1 and part[0] == "0") or int(part) > 255:
            return False
    return True


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
       CASE WHEN upper(proto) IN ('TCP', 'UDP', 'ICMP', 'ICMPV6', 'SCTP', 'UDPLITE', 'DCCP', 'ESP', 'AH', 'GRE')
            THEN lower(proto) ELSE proto END AS proto,
       action, ip_len AS bytes_out, 1 AS packets_out, nullif(tcp_flags, '') AS tcp_flags,
       prefix AS rule, {locator} AS locator,
       hash(host, src, dst, spt, dpt, upper(proto), ip_len, ip_id, tcp_flags, prefix, in_if, out_if,
            icmp_type, icmp_code) AS dedup_key,
       json_object('in', in_if, 'out', out_if, 'ttl', ttl, 'ip_id', ip_id, 'icmp_type', icmp_type,
                   'icmp_code', icmp_code, 'uid', uid, 'gid', gid, 'syslog_host', syslog_host) AS extra
FROM v
"""


def with_host_and_action(table: pa.Table, hosts) -> pa.Table:
    """Adds ``host`` (inventory name, file hint, or the logged name) and ``action`` (from the
    prefix), both computed once per distinct value."""
    syslog_host = table.column("syslog_host").combine_chunks().dictionary_encode()
    names = [hosts.resolve(name) for name in syslog_host.dictionary.to_pylist()]
    host = pa.array(names, type=pa.string()).take(syslog_host.indices)
    fallback = hosts.resolve(None)
    if fallback is not None:
        host = pc.fill_null(host, fallback)
    prefix = table.column("prefix").combine_chunks()
    table = table.append_column("host", host)
    return table.append_column("action", actions_for(prefix))


