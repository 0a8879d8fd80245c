"""Reading on past damage in a capture.

tshark (and editcap) stop at the first damaged record of a file: a pcap record header with an
impossible length, a pcapng block whose lengths disagree. Everything after it would be lost. This
module walks the file's record structure (headers only, no packet decoding), finds the damaged
record, looks for the next position where two consecutive records are valid again, and writes a
new capture made of the file's headers plus everything from that position on, for tshark to
read as one more chunk. Frames in it are numbered on from the last frame read; frames inside the
damaged bytes are not counted (their number is unknown).
"""

from __future__ import annotations

import mmap
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1": "<", b"\xa1\xb2\xc3\xd4": ">", b"\x4d\x3c\xb2\xa1": "<", b"\xa1\xb2\x3c\x4d": ">"}
SHB = 0x0A0D0D0A
PCAPNG_BLOCKS = {1, 2, 3, 4, 5, 6, 9, 10, 0xBAD, 0x40000BAD, SHB}
MAX_RECORD = 256 * 1024 * 4
RESYNC_WINDOW = 64 << 20  # give up looking for a valid record this far past the damage


@dataclass
class Salvage:
    damaged_at: int  # byte offset of the damaged record
    resumed_at: int  # byte offset where valid records start again
    path: Path  # headers + the rest of the file from resumed_at


def _pcap_record_ok(data, pos: int, end: int, order: str, snaplen: int) -> int | None:
    """Length of the record at ``pos`` when its header is plausible, else None."""
    if pos + 16 > end:
        return None
    _sec, frac, caplen, origlen = struct.unpack_from(order + "IIII", data, pos)
    if caplen > max(snaplen, 262144) or caplen > MAX_RECORD or origlen < caplen or frac >= 1_000_000_000:
        return None
    if pos + 16 + caplen > end:
        return None
    return 16 + caplen


def _pcapng_block_ok(data, pos: int, end: int, order: str) -> int | None:
    if pos + 12 > end:
        return None
    btype, length = struct.unpack_from(order + "II", data, pos)
    if btype not in PCAPNG_BLOCKS or length < 12 or length % 4 or length > MAX_RECORD * 2 or pos + length > end:
        return None
    (trailer,) = struct.unpack_from(order + "I", data, pos + length - 4)
    return length if trailer == length else None


def salvage(path: Path, out: Path) -> Salvage | None:
    """Find the first damaged record of ``path`` and write what follows it (with the file's
    headers) to ``out``. None when the file has no damage we can see or nothing valid follows."""
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size < 24:
            return None
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as raw:
            return _salvage(raw, handle, out)


def _salvage(raw: mmap.mmap, handle, out: Path) -> Salvage | None:
    data = raw  # struct.unpack_from reads an mmap directly; nothing is copied
    end = len(raw)
    if raw[:4] in PCAP_MAGICS:
        order = PCAP_MAGICS[raw[:4]]
        if end < 24:
            return None
        snaplen = struct.unpack_from(order + "I", data, 16)[0]
        check = lambda pos: _pcap_record_ok(data, pos, end, order, snaplen)  # noqa: E731
        header = raw[:24]
        pos = 24
        align = 1
    elif raw[:4] == b"\x0a\x0d\x0d\x0a" and end >= 12:
        order = "<" if raw[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
        check = lambda pos: _pcapng_block_ok(data, pos, end, order)  # noqa: E731
        header = b""
        pos = 0
        align = 4
    else:
        return None
    while pos < end:
        length = check(pos)
        if length is None:
            break
        if align == 4:
            btype = struct.unpack_from(order + "I", data, pos)[0]
            if btype in (SHB, 1):  # keep section and interface descriptions: packets refer to them
                header += raw[pos:pos + length]
        pos += length
    if pos >= end:
        return None
    damaged = pos
    candidate = pos + align
    limit = min(end, damaged + RESYNC_WINDOW)
    while candidate < limit:
        first = check(candidate)
        if first is not None:
            second_at = candidate + first
            if second_at == end or check(second_at) is not None:
                with open(out, "wb") as dst:
                    dst.write(header)
                    handle.seek(candidate)
                    shutil.copyfileobj(handle, dst, 1 << 20)
                return Salvage(damaged, candidate, out)
        candidate += align
    return None
