"""Syslog time stamps to UTC: RFC 3164 (no year, no zone) and RFC 3339, vectorised with numpy.

RFC 3164 stamps (``Feb 17 10:31:02``) carry neither year nor zone. The year comes from, in order:
the ``--year`` hint (or the inventory's ``year:``), which names the year of the file's first
stamp; else the file's modification time, whose year is taken for the first stamp unless that
stamp's month lies after the modification month (then the year before). Within a file a step from
November/December back to January/February starts a new year (the Dec->Jan rollover); other
backward steps (a collector merging hosts, or the odd out-of-order line) do not. The zone is the
``--tz`` hint or the inventory's; without one the stamps are read as UTC and the file gets a
warning. Every such time is marked ``ts_inferred``.

Nothing here corrects clock skew: a host whose clock runs slow logs slow stamps, and they are
stored as written (correlation estimates skew later, through views).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTH_NUMBER = {name: i + 1 for i, name in enumerate(MONTHS)}
# Three month letters packed big-endian into one integer, for vectorised lookup.
_MONTH_CODES = np.array([(ord(m[0]) << 16) | (ord(m[1]) << 8) | ord(m[2]) for m in MONTHS], dtype=np.int64)
_MONTH_ORDER = np.argsort(_MONTH_CODES)
_MONTH_SORTED = _MONTH_CODES[_MONTH_ORDER]


def month_from_codes(codes: np.ndarray) -> np.ndarray:
    """Month numbers (1..12, 0 when not a month name) for packed three-letter codes."""
    pos = np.searchsorted(_MONTH_SORTED, codes)
    pos = np.minimum(pos, len(_MONTH_SORTED) - 1)
    found = _MONTH_SORTED[pos] == codes
    return np.where(found, _MONTH_ORDER[pos] + 1, 0).astype(np.int64)


def days_from_civil(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 for proleptic Gregorian dates (H. Hinnant's algorithm), vectorised."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    table = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    return table[np.clip(month, 0, 12)] + ((month == 2) & leap)


def valid_civil(year, month, day, hour, minute, second) -> np.ndarray:
    return ((month >= 1) & (month <= 12) & (day >= 1) & (day <= days_in_month(year, month))
            & (hour >= 0) & (hour <= 23) & (minute >= 0) & (minute <= 59) & (second >= 0) & (second <= 60))


@lru_cache(maxsize=64)
def zone(name: str | None):
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class LocalToUtc:
    """Converts naive local epoch seconds to UTC epoch seconds in a zone, per distinct hour (so a
    file of ten million lines costs a few hundred zone look-ups). Times in a DST gap or repeat
    take the first (earlier) reading, as ``zoneinfo`` does with ``fold=0``."""

    def __init__(self, tz_name: str | None) -> None:
        self.tz = zone(tz_name) or timezone.utc
        self.fixed = self.tz is timezone.utc
        self._cache: dict[int, int] = {}

    def offset_seconds(self, naive_hour: int) -> int:
        cached = self._cache.get(naive_hour)
        if cached is None:
            local = datetime(1970, 1, 1) + timedelta(hours=int(naive_hour))
            offset = self.tz.utcoffset(local.replace(tzinfo=None)) if not isinstance(self.tz, ZoneInfo) \
                else local.replace(tzinfo=self.tz).utcoffset()
            cached = int(offset.total_seconds()) if offset is not None else 0
            self._cache[naive_hour] = cached
        return cached

    def __call__(self, naive_seconds: np.ndarray) -> np.ndarray:
        if self.fixed or len(naive_seconds) == 0:
            return naive_seconds
        hours = np.floor_divide(naive_seconds, 3600)
        unique, inverse = np.unique(hours, return_inverse=True)
        offsets = np.array([self.offset_seconds(int(h)) for h in unique], dtype=np.int64)
        return naive_seconds - offsets[inverse]


@dataclass
class YearTracker:
    """Assigns years to RFC 3164 stamps in file order (carrying state across blocks)."""

    base_year: int
    last_month: int = 0
    offset: int = 0
    rollovers: list[int] = field(default_factory=list)  # line numbers where a new year began

    def assign(self, months: np.ndarray, line_numbers: np.ndarray | None = None) -> np.ndarray:
        """Years for ``months`` (in file order; 0 = no RFC 3164 stamp on that line)."""
        years = np.zeros(len(months), dtype=np.int64)
        has = months > 0
        if not has.any():
            return years
        m = months[has]
        previous = np.empty_like(m)
        previous[0] = self.last_month
        previous[1:] = m[:-1]
        step = (previous >= 11) & (m <= 2)
        cumulative = np.cumsum(step) + self.offset
        years[has] = self.base_year + cumulative
        if line_numbers is not None and step.any():
            self.rollovers.extend(int(x) for x in line_numbers[has][step])
        self.offset = int(cumulative[-1])
        self.last_month = int(m[-1])
        return years


def year_from_mtime(mtime: float, first_month: int) -> int:
    """The year of a file's first RFC 3164 stamp, given the file's modification time."""
    modified = datetime.fromtimestamp(mtime, tz=timezone.utc)
    return modified.year - 1 if first_month > modified.month else modified.year


def iso_offset_seconds(text: str) -> int | None:
    """Seconds east of UTC of an ISO 8601 offset suffix (``Z``, ``+08:00``, ``-0400``), or None."""
    if text.endswith("Z") or text.endswith("z"):
        return 0
    tail = text[-6:]
    if len(tail) == 6 and tail[0] in "+-" and tail[3] == ":":
        sign = 1 if tail[0] == "+" else -1
        return sign * (int(tail[1:3]) * 3600 + int(tail[4:6]) * 60)
    tail = text[-5:]
    if len(tail) == 5 and tail[0] in "+-" and tail[1:].isdigit() and text[-8:-7] != "-":
        sign = 1 if tail[0] == "+" else -1
        return sign * (int(tail[1:3]) * 3600 + int(tail[3:5]) * 60)
    return None


def parse_iso(text: str) -> tuple[datetime | None, bool]:
    """An RFC 3339 / ISO 8601 stamp as an aware UTC datetime, and whether it carried a zone.
    Naive stamps come back naive (the caller applies the zone hint)."""
    value = text.strip()
    offset = iso_offset_seconds(value)
    body = value
    if offset is not None:
        body = value[:-1] if value[-1] in "Zz" else (value[:-6] if value[-3] == ":" else value[:-5])
    body = body.replace(" ", "T", 1)
    fraction = ""
    if "." in body:
        body, fraction = body.split(".", 1)
        if not fraction.isdigit():
            return None, False
    try:
        parsed = datetime.strptime(body, "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None, False
    if fraction:
        parsed = parsed.replace(microsecond=int((fraction + "000000")[:6]))
    if offset is None:
        return parsed, False
    return (parsed - timedelta(seconds=offset)).replace(tzinfo=timezone.utc), True
