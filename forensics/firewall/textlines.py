"""When DuckDB's own line reader may number a text file's lines, and which lines it must skip.

``read_csv`` reads a file as lines several times faster than any Python loop, and
``row_number() OVER ()`` over it streams in file order, so the row number is the line number a
locator needs, but only while every line comes out as exactly one row. Measured on DuckDB 1.x/2.0:
a lone carriage return also ends a row (mixed line endings shift every later number), invalid
UTF-8 and lines longer than ``max_line_size`` stop the read with an error (which would abort the
evidence file's transaction), and the delimiter byte cuts a line short. :func:`survey_lines` reads
the file once in large blocks (numpy over the bytes, no per-line Python) and says whether none of
that can happen; it also lists the lines that start with a letter (headers, junk) so the caller can
treat them apart, and counts the record lines, so the caller can tell whether any were rejected.
A file that fails the survey is read by the slower block reader, which numbers lines itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from forensics.context import sql_string

from .netfilter import iter_line_blocks

MAX_LINE = 1 << 20


def lines_sql(path: str | Path) -> str:
    """A relation (line, text) over a file that passed :func:`survey_lines`: every line, blank
    lines as NULL or ''. The delimiter \\x01 does not occur in such a file, so each line is one value."""
    return (f"(SELECT row_number() OVER () AS line, text FROM read_csv({sql_string(path)}, "
            "columns={'text': 'VARCHAR'}, delim='\\x01', quote='', escape='', header=false, "
            f"auto_detect=false, strict_mode=false, new_line='\\n', max_line_size={2 * MAX_LINE}))")


# first-byte classes: 1 a letter or $ (a header or junk), 2 white space
_LETTER = np.zeros(256, dtype=np.uint8)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz$":
    _LETTER[_c] = 1
for _c in b" \t\x0b\x0c":
    _LETTER[_c] = 2


@njit(cache=True, nogil=True)
def _scan(a, n, classes, state, hits):
    """One pass over ``a[:n]``, a chunk of the file, carrying ``state`` across chunks: [lines,
    blank lines, longest line, white-space first byte seen, bad byte seen, non-ASCII seen,
    letter lines found, length of the current line, class of its first byte, offset of the
    chunk in the file, white space before a newline seen, previous byte]. Letter lines are
    noted in ``hits`` as (line index, offset) while there is room."""
    lines, blank, longest, space, bad, wide, n_hits, length, first, base, trailing, previous = (
        state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[8], state[9],
        state[10], state[11])
    for i in range(n):
        c = a[i]
        if c == 10:
            if length == 0:
                blank += 1
            elif classes[previous] == 2:
                trailing = 1
            elif first == 1:
                if n_hits < hits.shape[0]:
                    hits[n_hits, 0] = lines
                    hits[n_hits, 1] = base + i - length
                n_hits += 1
            elif first == 2:
                space = 1
            if length > longest:
                longest = length
            lines += 1
            length = 0
            previous = c
            continue
        if length == 0:
            first = classes[c]
        length += 1
        if c < 32:
            if c == 13 or c == 0 or c == 1:
                bad = 1
        elif c >= 128:
            wide = 1
        previous = c
    state[0], state[1], state[2], state[3], state[4], state[5], state[6], state[7], state[8] = (
        lines, blank, longest, space, bad, wide, n_hits, length, first)
    state[9], state[10], state[11] = base + n, trailing, previous


@dataclass
class LineSurvey:
    lines: int = 0                 # lines in the file (a last line without a newline counts)
    blank: int = 0                 # empty lines (DuckDB gives them as NULL/'' rows)
    letter_lines: list[tuple[int, str]] = field(default_factory=list)  # (line, text) starting [A-Za-z$]
    trailing_space: bool = False   # some line ends in white space (so text needs trimming)
    reason: str | None = None      # why DuckDB's line numbers would not be exact (None: they are)

    @property
    def exact(self) -> bool:
        return self.reason is None

    @property
    def records(self) -> int:
        """Lines that are neither blank nor start with a letter."""
        return self.lines - self.blank - len(self.letter_lines)


def survey_lines(path: str | Path, max_letter_lines: int = 10_000, block_size: int = 16 << 20) -> LineSurvey:
    survey = LineSurvey()
    state = np.zeros(12, dtype=np.int64)
    hits = np.zeros((max_letter_lines + 1, 2), dtype=np.int64)
    buffer = bytearray(block_size)
    array = np.frombuffer(buffer, dtype=np.uint8)
    with open(path, "rb") as handle:
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            _scan(array, n, _LETTER, state, hits)
        if state[7]:  # a last line without a newline
            _scan(np.frombuffer(b"\n", dtype=np.uint8), 1, _LETTER, state, hits)
        lines, blank, longest, space, bad, wide, n_hits = (int(v) for v in state[:7])
        if bad:
            survey.reason = "carriage returns, NUL or control bytes"
        elif longest >= MAX_LINE:
            survey.reason = "a line longer than 1 MiB"
        elif space:
            survey.reason = "lines starting with white space"
        elif n_hits > max_letter_lines:
            survey.reason = f"more than {max_letter_lines} lines starting with a letter"
        elif wide and not _utf8(handle, block_size):
            survey.reason = "not UTF-8"
        if survey.reason:
            return survey
        for index, offset in hits[:n_hits].tolist():
            handle.seek(offset)
            survey.letter_lines.append((index + 1, handle.readline().rstrip(b"\n").decode("utf-8").strip(" ")))
    survey.lines, survey.blank, survey.trailing_space = lines, blank, bool(state[10])
    return survey


def _utf8(handle, block_size: int) -> bool:
    handle.seek(0)
    for block, _, _ in iter_line_blocks(handle, block_size):
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True
