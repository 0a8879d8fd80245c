"""TCP stream reassembly for the few streams whose payload we read ourselves (SSH, JSON-RPC).

Segments arrive as (sequence number, bytes, frame, time) for one direction of one connection.
They are put in sequence order, retransmitted and overlapping bytes are dropped, and the result
is a list of contiguous runs: a gap in the sequence space (bytes the capture never saw) ends a
run, so a parser never glues two distant pieces of a stream together. Each run keeps a map from
byte offset to the frame that carried the byte, so everything found in it has a frame locator.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Run:
    """Contiguous bytes of one direction of a stream."""

    data: bytearray = field(default_factory=bytearray)
    offsets: list[int] = field(default_factory=list)  # start offset of each contributing segment
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def frame_at(self, offset: int) -> tuple[int, float]:
        """The frame (and its time) that carried the byte at ``offset``."""
        i = bisect.bisect_right(self.offsets, offset) - 1
        i = max(i, 0)
        return self.frames[i], self.times[i]


@dataclass
class Reassembled:
    runs: list[Run]
    gaps: list[tuple[int, int]]  # (frame after the gap, missing bytes)
    overlaps: int  # retransmitted bytes dropped


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= (1 << 31) else value


def reassemble(segments: list[tuple[int, bytes, int, float]]) -> Reassembled:
    """``segments``: (raw sequence number, payload, frame, time), in capture order."""
    if not segments:
        return Reassembled([], [], 0)
    base = segments[0][0]
    ordered = sorted(((_signed32(seq - base), payload, frame, ts) for seq, payload, frame, ts in segments
                      if payload), key=lambda s: (s[0], s[2]))
    runs: list[Run] = []
    gaps: list[tuple[int, int]] = []
    overlaps = 0
    run: Run | None = None
    next_seq = None
    for rel, payload, frame, ts in ordered:
        end = rel + len(payload)
        if next_seq is not None and end <= next_seq:
            overlaps += len(payload)
            continue
        if next_seq is None or rel > next_seq:
            if next_seq is not None:
                gaps.append((frame, rel - next_seq))
            run = Run()
            runs.append(run)
            next_seq = rel
        skip = next_seq - rel
        overlaps += skip
        assert run is not None
        run.offsets.append(len(run.data))
        run.frames.append(frame)
        run.times.append(ts)
        run.data += payload[skip:]
        next_seq = end
    return Reassembled(runs, gaps, overlaps)
