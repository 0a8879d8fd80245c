"""The compiled hot loop of the netfilter reader: one pass over each line's bytes (numba).

:func:`scan` mirrors :mod:`.netfilter_line` token by token (the stamp grammar, the first
``IN=<if> OUT=<if>``, first occurrence of each key, the IP id only before ``PROTO=``, TCP flags
between ``RES=`` and ``URGP=``, the bracketed ICMP quote cut off) but writes numbers and byte
spans into arrays instead of building Python objects. Whatever it is not sure about (a malformed
number, a port out of range, an odd uptime position, a truncated field) it marks for the
reference parser, which then reads that line and words the warning; the tests compare both on
every line they both read.
"""

from __future__ import annotations

import numpy as np
from numba import njit

NO_OFFSET = -(1 << 40)

# integer outputs
(I_KIND, I_YEAR, I_MONTH, I_DAY, I_HOUR, I_MINUTE, I_SECOND, I_MICRO, I_OFFSET, I_LEN, I_TTL, I_ID,
 I_SPT, I_DPT, I_TYPE, I_CODE, I_UID, I_GID, I_SRC_PLAIN, I_DST_PLAIN, I_HAS_FLAGS, I_UPTIME,
 I_SRC_INT, I_DST_INT) = range(24)
N_INTS = 24
# byte spans [start, end)
(S_STAMP, S_MID1, S_MID2, S_IN, S_OUT, S_SRC, S_DST, S_PROTO, S_FLAGS) = range(9)
N_SPANS = 9
# status
FAST, SLOW, OTHER = 0, 1, 2

MONTH_LETTERS = np.frombuffer(b"JanFebMarAprMayJunJulAugSepOctNovDec", dtype=np.uint8)
W_TCP = np.frombuffer(b"TCP", dtype=np.uint8)
W_UDP = np.frombuffer(b"UDP", dtype=np.uint8)
W_UDPLITE = np.frombuffer(b"UDPLITE", dtype=np.uint8)
W_SCTP = np.frombuffer(b"SCTP", dtype=np.uint8)
W_DCCP = np.frombuffer(b"DCCP", dtype=np.uint8)
W_ICMP = np.frombuffer(b"ICMP", dtype=np.uint8)
W_ICMPV6 = np.frombuffer(b"ICMPV6", dtype=np.uint8)
W_HOPLIMIT = np.frombuffer(b"HOPLIMIT", dtype=np.uint8)
W_KERNEL = np.frombuffer(b"kernel", dtype=np.uint8)


@njit(cache=True, nogil=True)
def _is_digit(c):
    return 48 <= c <= 57


@njit(cache=True, nogil=True)
def _number(buf, s, e, limit):
    """Unsigned decimal in buf[s:e]: value, or -1 (empty/absent), -2 (malformed or above limit)."""
    if e <= s:
        return -2
    if e - s > 10:
        return -2
    v = 0
    for i in range(s, e):
        c = buf[i]
        if not _is_digit(c):
            return -2
        v = v * 10 + (c - 48)
    if v > limit:
        return -2
    return v


@njit(cache=True, nogil=True)
def _plain_ipv4(buf, s, e):
    n = e - s
    if n < 7 or n > 15:
        return 0
    dots = 0
    run = 0
    val = 0
    lead = False
    for i in range(s, e + 1):
        c = buf[i] if i < e else 46
        if c == 46:
            if run < 1 or run > 3 or val > 255 or (lead and run > 1):
                return 0
            if i < e:
                dots += 1
            run = 0
            val = 0
            lead = False
        elif _is_digit(c):
            if run == 0:
                lead = c == 48
            run += 1
            val = val * 10 + (c - 48)
        else:
            return 0
    return 1 if dots == 3 else 0


@njit(cache=True, nogil=True)
def _ipv4_value(buf, s, e):
    """The 32-bit value of a canonical dotted quad (checked by _plain_ipv4)."""
    value = 0
    octet = 0
    for i in range(s, e):
        c = buf[i]
        if c == 46:
            value = value * 256 + octet
            octet = 0
        else:
            octet = octet * 10 + (c - 48)
    return value * 256 + octet


@njit(cache=True, nogil=True)
def _word_is(buf, s, e, word):
    """Case-insensitive compare of buf[s:e] with an upper-case ASCII word."""
    if e - s != len(word):
        return False
    for i in range(len(word)):
        c = buf[s + i]
        if 97 <= c <= 122:
            c -= 32
        if c != word[i]:
            return False
    return True


@njit(cache=True, nogil=True)
def _stamp(buf, s, e, ints, spans, row):
    """RFC 3164 or RFC 3339 stamp at s (after optional spaces, <pri> and RFC 5424 version).
    Returns where the rest starts (after the following spaces), or -1."""
    p = s
    while p < e and buf[p] == 32:
        p += 1
    if p < e and buf[p] == 60:  # <pri>
        q = p + 1
        while q < e and q - p <= 3 and _is_digit(buf[q]):
            q += 1
        if q == p + 1 or q >= e or buf[q] != 62 or q - p > 4:
            return -1
        p = q + 1
        if p + 1 < e and buf[p] == 49 and buf[p + 1] == 32:  # "1 " of RFC 5424
            p += 2
            while p < e and buf[p] == 32:
                p += 1
    st = p
    if p + 3 <= e and 65 <= buf[p] <= 90 and 97 <= buf[p + 1] <= 122 and 97 <= buf[p + 2] <= 122:
        m = 0
        c0, c1, c2 = buf[p], buf[p + 1], buf[p + 2]
        for k in range(12):
            if c0 == MONTH_LETTERS[3 * k] and c1 == MONTH_LETTERS[3 * k + 1] and c2 == MONTH_LETTERS[3 * k + 2]:
                m = k + 1
        p += 3
        if p >= e or buf[p] != 32:
            return -1
        while p < e and buf[p] == 32:
            p += 1
        q = p
        while q < e and _is_digit(buf[q]) and q - p < 2:
            q += 1
        if q == p:
            return -1
        day = 0
        for i in range(p, q):
            day = day * 10 + buf[i] - 48
        p = q
        if p >= e or buf[p] != 32:
            return -1
        while p < e and buf[p] == 32:
            p += 1
        year = 0
        if p + 4 < e and _is_digit(buf[p]) and _is_digit(buf[p + 1]) and _is_digit(buf[p + 2]) \
                and _is_digit(buf[p + 3]) and buf[p + 4] == 32:
            year = (buf[p] - 48) * 1000 + (buf[p + 1] - 48) * 100 + (buf[p + 2] - 48) * 10 + buf[p + 3] - 48
            p += 4
            while p < e and buf[p] == 32:
                p += 1
        q = p
        while q < e and _is_digit(buf[q]) and q - p < 2:
            q += 1
        if q == p:
            return -1
        hour = 0
        for i in range(p, q):
            hour = hour * 10 + buf[i] - 48
        p = q
        if p + 6 > e or buf[p] != 58 or not _is_digit(buf[p + 1]) or not _is_digit(buf[p + 2]) \
                or buf[p + 3] != 58 or not _is_digit(buf[p + 4]) or not _is_digit(buf[p + 5]):
            return -1
        minute = (buf[p + 1] - 48) * 10 + buf[p + 2] - 48
        second = (buf[p + 4] - 48) * 10 + buf[p + 5] - 48
        p += 6
        micro = 0
        if p < e and buf[p] == 46:
            q = p + 1
            while q < e and _is_digit(buf[q]) and q - p <= 9:
                q += 1
            if q == p + 1 or (q < e and _is_digit(buf[q])):
                return -1
            digits = 0
            for i in range(p + 1, q):
                if digits < 6:
                    micro = micro * 10 + buf[i] - 48
                    digits += 1
            while digits < 6:
                micro *= 10
                digits += 1
            p = q
        if p < e and buf[p] != 32:
            return -1
        ints[row, I_KIND] = 1
        ints[row, I_YEAR] = year
        ints[row, I_MONTH] = m
        ints[row, I_DAY] = day
        ints[row, I_HOUR] = hour
        ints[row, I_MINUTE] = minute
        ints[row, I_SECOND] = second
        ints[row, I_MICRO] = micro
        ints[row, I_OFFSET] = NO_OFFSET
    elif p + 19 <= e:
        for k in (0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18):
            if not _is_digit(buf[p + k]):
                return -1
        if buf[p + 4] != 45 or buf[p + 7] != 45 or not (buf[p + 10] == 84 or buf[p + 10] == 32) \
                or buf[p + 13] != 58 or buf[p + 16] != 58:
            return -1

        def two(i):
            return (buf[i] - 48) * 10 + buf[i + 1] - 48

        year = two(p) * 100 + two(p + 2)
        month, day, hour, minute, second = two(p + 5), two(p + 8), two(p + 11), two(p + 14), two(p + 17)
        p += 19
        micro = 0
        if p < e and buf[p] == 46:
            q = p + 1
            while q < e and _is_digit(buf[q]) and q - p <= 9:
                q += 1
            if q == p + 1 or (q < e and _is_digit(buf[q])):
                return -1
            digits = 0
            for i in range(p + 1, q):
                if digits < 6:
                    micro = micro * 10 + buf[i] - 48
                    digits += 1
            while digits < 6:
                micro *= 10
                digits += 1
            p = q
        offset = NO_OFFSET
        if p < e and (buf[p] == 90 or buf[p] == 122):
            offset = 0
            p += 1
        elif p + 5 <= e and (buf[p] == 43 or buf[p] == 45) and _is_digit(buf[p + 1]) and _is_digit(buf[p + 2]):
            sign = 1 if buf[p] == 43 else -1
            hh = two(p + 1)
            if p + 6 <= e and buf[p + 3] == 58 and _is_digit(buf[p + 4]) and _is_digit(buf[p + 5]):
                offset = sign * (hh * 3600 + two(p + 4) * 60)
                p += 6
            elif _is_digit(buf[p + 3]) and _is_digit(buf[p + 4]):
                offset = sign * (hh * 3600 + two(p + 3) * 60)
                p += 5
            else:
                return -1
        if p < e and buf[p] != 32:
            return -1
        ints[row, I_KIND] = 2
        ints[row, I_YEAR] = year
        ints[row, I_MONTH] = month
        ints[row, I_DAY] = day
        ints[row, I_HOUR] = hour
        ints[row, I_MINUTE] = minute
        ints[row, I_SECOND] = second
        ints[row, I_MICRO] = micro
        ints[row, I_OFFSET] = offset
    else:
        return -1
    spans[row, 2 * S_STAMP] = st
    spans[row, 2 * S_STAMP + 1] = p
    while p < e and buf[p] == 32:
        p += 1
    return p


@njit(cache=True, nogil=True)
def _kernel_tag(buf, q, end):
    """End of "kernel(\\[\\d+\\])?:\\s*" at q, or -1."""
    if q + 7 > end:
        return -1
    for i in range(6):
        if buf[q + i] != W_KERNEL[i]:
            return -1
    r = q + 6
    if r < end and buf[r] == 91:
        r2 = r + 1
        while r2 < end and _is_digit(buf[r2]):
            r2 += 1
        if r2 == r + 1 or r2 >= end or buf[r2] != 93:
            return -1
        r = r2 + 1
    if r >= end or buf[r] != 58:
        return -1
    r += 1
    while r < end and buf[r] == 32:
        r += 1
    return r


@njit(cache=True, nogil=True)
def _interesting(buf, s, e):
    """Does the line carry a netfilter key (so an unreadable line is a warning, not noise)?"""
    for i in range(s + 2, e):
        if buf[i] == 61:
            if buf[i - 2] == 73 and buf[i - 1] == 78:  # IN=
                return True
            if i >= s + 3:
                a, b, c = buf[i - 3], buf[i - 2], buf[i - 1]
                if (a == 83 and b == 82 and c == 67) or (a == 68 and b == 80 and c == 84) \
                        or (a == 79 and b == 84 and c == 79):  # SRC= DPT= ...TO=
                    return True
    return False


@njit(cache=True, nogil=True)
def _key_id(buf, s, e):
    """Which key buf[s:e] names (0 when none we keep)."""
    n = e - s
    if n == 2:
        if buf[s] == 73 and buf[s + 1] == 68:
            return 6  # ID
        return 0
    if n == 3:
        a, b, c = buf[s], buf[s + 1], buf[s + 2]
        if a == 83 and b == 82 and c == 67:
            return 1  # SRC
        if a == 68 and b == 83 and c == 84:
            return 2  # DST
        if a == 76 and b == 69 and c == 78:
            return 3  # LEN
        if a == 84 and b == 84 and c == 76:
            return 4  # TTL
        if a == 83 and b == 80 and c == 84:
            return 8  # SPT
        if a == 68 and b == 80 and c == 84:
            return 9  # DPT
        if a == 85 and b == 73 and c == 68:
            return 12  # UID
        if a == 71 and b == 73 and c == 68:
            return 13  # GID
        if a == 82 and b == 69 and c == 83:
            return 14  # RES
        return 0
    if n == 4:
        if buf[s] == 84 and buf[s + 1] == 89 and buf[s + 2] == 80 and buf[s + 3] == 69:
            return 10  # TYPE
        if buf[s] == 67 and buf[s + 1] == 79 and buf[s + 2] == 68 and buf[s + 3] == 69:
            return 11  # CODE
        if buf[s] == 85 and buf[s + 1] == 82 and buf[s + 2] == 71 and buf[s + 3] == 80:
            return 15  # URGP
        return 0
    if n == 5:
        if buf[s] == 80 and buf[s + 1] == 82 and buf[s + 2] == 79 and buf[s + 3] == 84 and buf[s + 4] == 79:
            return 7  # PROTO
        return 0
    if n == 8:
        for i in range(8):
            if buf[s + i] != W_HOPLIMIT[i]:
                return 0
        return 5  # HOPLIMIT
    return 0


@njit(cache=True, nogil=True)
def _line(buf, s, e, with_header, ints, spans, row, ks, ke):
    for k in range(N_INTS):
        ints[row, k] = -1
    for k in range(2 * N_SPANS):
        spans[row, k] = 0
    ints[row, I_KIND] = 0
    ints[row, I_OFFSET] = NO_OFFSET
    # non-ASCII or control bytes: the reference parser decides
    for i in range(s, e):
        c = buf[i]
        if c < 32 or c > 126:
            return SLOW
    start = s
    if with_header:
        start = _stamp(buf, s, e, ints, spans, row)
        if start < 0:
            return SLOW if _interesting(buf, s, e) else OTHER
    # the first "IN=<if> OUT=<if>"
    p = start
    found = -1
    in_end = 0
    out_s = 0
    out_e = 0
    while p + 3 <= e:
        if buf[p] == 73 and buf[p + 1] == 78 and buf[p + 2] == 61:
            q = p + 3
            while q < e and buf[q] != 32:
                q += 1
            if q + 5 <= e and buf[q] == 32 and buf[q + 1] == 79 and buf[q + 2] == 85 and buf[q + 3] == 84 \
                    and buf[q + 4] == 61:
                r = q + 5
                while r < e and buf[r] != 32:
                    r += 1
                found = p
                in_end = q
                out_s = q + 5
                out_e = r
                break
        p += 1
    if found < 0:
        return SLOW if _interesting(buf, s, e) else OTHER
    spans[row, 2 * S_IN] = found + 3
    spans[row, 2 * S_IN + 1] = in_end
    spans[row, 2 * S_OUT] = out_s
    spans[row, 2 * S_OUT + 1] = out_e
    # host/prefix text [start, found), with the uptime stamp "[  123.456789]" (and the spaces after
    # it) cut out where the reference parser strips it: after an optional host token, an optional
    # facility.level before "kernel:", and an optional "kernel:" tag
    spans[row, 2 * S_MID1] = start
    spans[row, 2 * S_MID1 + 1] = found
    spans[row, 2 * S_MID2] = found
    spans[row, 2 * S_MID2 + 1] = found
    ints[row, I_UPTIME] = 0
    q = start
    if with_header:
        r = q
        while r < found and buf[r] != 32 and buf[r] != 58 and buf[r] != 91 and buf[r] != 93:
            r += 1
        if r > q and r < found and buf[r] == 32:
            while r < found and buf[r] == 32:
                r += 1
            q = r
        r = q
        while r < found and 97 <= buf[r] <= 122:
            r += 1
        if r > q and r < found and buf[r] == 46:
            r2 = r + 1
            while r2 < found and 97 <= buf[r2] <= 122:
                r2 += 1
            if r2 > r + 1 and r2 < found and buf[r2] == 32:
                while r2 < found and buf[r2] == 32:
                    r2 += 1
                if _kernel_tag(buf, r2, found) >= 0:
                    q = r2
    r = _kernel_tag(buf, q, found)
    if r >= 0:
        q = r
    if q < found and buf[q] == 91:
        r = q + 1
        while r < found and buf[r] == 32:
            r += 1
        d0 = r
        while r < found and _is_digit(buf[r]):
            r += 1
        if r > d0 and r < found and buf[r] == 46:
            r += 1
            d1 = r
            while r < found and _is_digit(buf[r]):
                r += 1
            if r > d1 and r < found and buf[r] == 93:
                r += 1
                while r < found and buf[r] == 32:
                    r += 1
                spans[row, 2 * S_MID1 + 1] = q
                spans[row, 2 * S_MID2] = r
                ints[row, I_UPTIME] = 1
    # tokens after OUT's value, up to a quoted packet " ["
    limit = e
    for i in range(out_e, e - 1):
        if buf[i] == 32 and buf[i + 1] == 91:
            limit = i
            break
    proto_seen = False
    res_seen = False
    urgp_seen = False
    flag_s = -1
    flag_e = -1
    flag_bytes = 0
    flag_count = 0
    for k in range(16):
        ks[k] = -1
        ke[k] = -1
    p = out_e
    while p < limit:
        while p < limit and buf[p] == 32:
            p += 1
        if p >= limit:
            break
        t0 = p
        eqpos = -1
        while p < limit and buf[p] != 32:
            if buf[p] == 61 and eqpos < 0:
                eqpos = p
            p += 1
        t1 = p
        if eqpos >= 0:
            kid = _key_id(buf, t0, eqpos)
            if kid == 7:
                proto_seen = True
            if kid == 6 and proto_seen:
                continue
            if kid == 14:
                res_seen = True
            elif kid == 15:
                urgp_seen = True
            if kid > 0 and ks[kid] < 0:
                ks[kid] = eqpos + 1
                ke[kid] = t1
        elif res_seen and not urgp_seen:
            if flag_s < 0:
                flag_s = t0
            flag_e = t1
            flag_bytes += t1 - t0
            flag_count += 1
    if ks[1] < 0 or ks[2] < 0:
        return SLOW  # no SRC/DST: the reference words the warning
    spans[row, 2 * S_SRC] = ks[1]
    spans[row, 2 * S_SRC + 1] = ke[1]
    spans[row, 2 * S_DST] = ks[2]
    spans[row, 2 * S_DST + 1] = ke[2]
    ints[row, I_SRC_PLAIN] = _plain_ipv4(buf, ks[1], ke[1])
    ints[row, I_DST_PLAIN] = _plain_ipv4(buf, ks[2], ke[2])
    if ints[row, I_SRC_PLAIN] == 1:
        ints[row, I_SRC_INT] = _ipv4_value(buf, ks[1], ke[1])
    if ints[row, I_DST_PLAIN] == 1:
        ints[row, I_DST_INT] = _ipv4_value(buf, ks[2], ke[2])
    ported = False
    icmp = False
    tcp = False
    if ks[7] >= 0:
        spans[row, 2 * S_PROTO] = ks[7]
        spans[row, 2 * S_PROTO + 1] = ke[7]
        a, b = ks[7], ke[7]
        tcp = _word_is(buf, a, b, W_TCP)
        ported = tcp or _word_is(buf, a, b, W_UDP) or _word_is(buf, a, b, W_UDPLITE) \
            or _word_is(buf, a, b, W_SCTP) or _word_is(buf, a, b, W_DCCP)
        icmp = _word_is(buf, a, b, W_ICMP) or _word_is(buf, a, b, W_ICMPV6)
    else:
        spans[row, 2 * S_PROTO] = -1
    if ks[4] < 0 and ks[5] >= 0:
        ks[4] = ks[5]
        ke[4] = ke[5]
    fields = ((I_LEN, 3, 65535), (I_TTL, 4, 255), (I_ID, 6, 65535), (I_UID, 12, 4294967295),
              (I_GID, 13, 4294967295))
    for out, kid, lim in fields:
        if ks[kid] >= 0:
            v = _number(buf, ks[kid], ke[kid], lim)
            if v == -2:
                return SLOW
            ints[row, out] = v
    if ported:
        if ks[8] < 0 or ks[9] < 0:
            return SLOW
        for out, kid in ((I_SPT, 8), (I_DPT, 9)):
            v = _number(buf, ks[kid], ke[kid], 65535)
            if v == -2:
                return SLOW
            ints[row, out] = v
    if icmp:
        for out, kid in ((I_TYPE, 10), (I_CODE, 11)):
            if ks[kid] >= 0:
                v = _number(buf, ks[kid], ke[kid], 255)
                if v == -2:
                    return SLOW
                ints[row, out] = v
    if tcp and res_seen:
        if flag_count > 0 and flag_e - flag_s != flag_bytes + flag_count - 1:
            return SLOW  # flags separated by more than one space: let the reference join them
        ints[row, I_HAS_FLAGS] = 1
        spans[row, 2 * S_FLAGS] = flag_s if flag_count > 0 else 0
        spans[row, 2 * S_FLAGS + 1] = flag_e if flag_count > 0 else 0
    return FAST


@njit(cache=True, nogil=True)
def scan(buf, starts, ends, with_header):
    """Scan every line: status per line, integer fields ``ints[line, I_*]`` and byte spans
    ``spans[line, 2 * S_*]`` (start) / ``spans[line, 2 * S_* + 1]`` (end); one row per line keeps a
    line's writes in one place."""
    n = len(starts)
    status = np.empty(n, dtype=np.int8)
    ints = np.empty((n, N_INTS), dtype=np.int64)
    spans = np.empty((n, 2 * N_SPANS), dtype=np.int64)
    ks = np.empty(16, dtype=np.int64)
    ke = np.empty(16, dtype=np.int64)
    for row in range(n):
        status[row] = _line(buf, starts[row], ends[row], with_header, ints, spans, row, ks, ke)
    return status, ints, spans


@njit(cache=True, nogil=True)
def gather(buf, s0, e0, s1, e1, marker):
    """Concatenate buf[s0:e0] (+ ``marker`` + buf[s1:e1] when marker >= 0) per row: Arrow
    offsets and data."""
    n = len(s0)
    offsets = np.empty(n + 1, dtype=np.int32)
    total = 0
    offsets[0] = 0
    for i in range(n):
        size = max(e0[i] - s0[i], 0)
        if marker[i] >= 0:
            size += 1 + max(e1[i] - s1[i], 0)
        total += size
        offsets[i + 1] = total
    data = np.empty(total, dtype=np.uint8)
    k = 0
    for i in range(n):
        for j in range(s0[i], e0[i]):
            data[k] = buf[j]
            k += 1
        if marker[i] >= 0:
            data[k] = marker[i]
            k += 1
            for j in range(s1[i], e1[i]):
                data[k] = buf[j]
                k += 1
    return offsets, data


@njit(cache=True, nogil=True)
def _hex(c):
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 102:
        return c - 87
    if 65 <= c <= 70:
        return c - 55
    return -1


@njit(cache=True, nogil=True)
def _ipv6_words(buf, s, e, words):
    """The eight 16-bit words of an IPv6 address in buf[s:e] (``::`` allowed, no dotted quad);
    False when the text is not one."""
    head = np.zeros(8, dtype=np.int64)
    tail = np.zeros(8, dtype=np.int64)
    nh = 0
    nt = 0
    gap = False
    i = s
    if e - s < 2:
        return False
    if buf[s] == 58:  # leading "::"
        if buf[s + 1] != 58:
            return False
        gap = True
        i = s + 2
    while i < e:
        value = 0
        digits = 0
        while i < e and digits <= 4:
            h = _hex(buf[i])
            if h < 0:
                break
            value = value * 16 + h
            digits += 1
            i += 1
        if digits == 0 or digits > 4:
            return False
        if gap:
            if nt >= 8:
                return False
            tail[nt] = value
            nt += 1
        else:
            if nh >= 8:
                return False
            head[nh] = value
            nh += 1
        if i == e:
            break
        if buf[i] != 58:
            return False
        i += 1
        if i < e and buf[i] == 58:
            if gap:
                return False
            gap = True
            i += 1
            if i == e:
                break
        elif i == e:
            return False
    total = nh + nt
    if (gap and total > 7) or (not gap and total != 8):
        return False
    for k in range(8):
        words[k] = 0
    for k in range(nh):
        words[k] = head[k]
    for k in range(nt):
        words[8 - nt + k] = tail[k]
    return True


@njit(cache=True, nogil=True)
def canonical_ipv6(data, offsets):
    """RFC 5952 text of IPv6 addresses given as strings (Arrow data and offsets): lower case, no
    leading zeros, the longest run of two or more zero words (the first of equal runs) as ``::``.
    Returns offsets, data and a validity flag per value (False: not IPv6 text this handles)."""
    n = len(offsets) - 1
    out_offsets = np.zeros(n + 1, dtype=np.int32)
    out = np.empty(n * 40, dtype=np.uint8)
    ok = np.zeros(n, dtype=np.bool_)
    words = np.zeros(8, dtype=np.int64)
    hexchars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    k = 0
    for row in range(n):
        s, e = offsets[row], offsets[row + 1]
        if _ipv6_words(data, s, e, words):
            ok[row] = True
            best_start, best_len, run_start, run_len = -1, 0, -1, 0
            for w in range(8):
                if words[w] == 0:
                    if run_len == 0:
                        run_start = w
                    run_len += 1
                    if run_len > best_len:
                        best_start, best_len = run_start, run_len
                else:
                    run_len = 0
            if best_len < 2:
                best_start = -1
            w = 0
            while w < 8:
                if w == best_start:
                    out[k] = 58
                    k += 1
                    if w == 0:
                        out[k] = 58
                        k += 1
                    w += best_len
                    continue
                value = words[w]
                started = False
                for shift in (12, 8, 4, 0):
                    nibble = (value >> shift) & 15
                    if nibble != 0 or started or shift == 0:
                        out[k] = hexchars[nibble]
                        k += 1
                        started = True
                if w < 7:
                    out[k] = 58
                    k += 1
                w += 1
        out_offsets[row + 1] = k
    return out_offsets, out[:k].copy(), ok
