"""``dcgmi dmon`` text output.

Columns come from the ``#Entity`` header (short field names; widths differ by DCGM version and
the header repeats every 14 samples) and are keyed by DCGM field id, so GPUTL is field 203
whatever its width. Rows are ``GPU 0``, MIG (``GPU-I 1``, ``GPU-CI 2``), link (``GPU 0 LINK 5``)
and other entities; ``N/A`` and DCGM's blank sentinels are no value.

dmon prints no time. A leading stamp on each line (``awk '{print strftime(...), $0}'``,
moreutils ``ts``, ISO 8601) is used when present; otherwise sample n is placed at
``--option dcgmi_start=ISO-TIME`` + n x ``--option dcgmi_delay_ms=N`` (default 1000, dmon's -d),
marked inferred, and without a start the rows are kept without a time (one warning).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from forensics.context import ParseContext
from forensics.gpu.fields import FIELDS_BY_SHORT
from forensics.gpu.textlines import read_text_lines
from forensics.gpu.writer import GpuWriter, derive_entities
from forensics.registry import Parser, Sniff, register

BLANK = 140737488355328.0  # DCGM_FP64_BLANK; int64 blanks (0x7ffffffffffffff0 and up) are larger
ENTITY = re.compile(r"(?P<entity>(?:GPU-CI|GPU-I|vGPU|GPU|Switch|SW|CPU Core|CPU|CX)\s+\d+(?:\s+LINK\s+\d+)?)(?=\s|$)")
STOPPED = "dmon was stopped"

STAMP_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f",
                 "%Y-%m-%dT%H:%M:%S", "%b %d %H:%M:%S", "%b %d %H:%M:%S.%f")


def sniff(s: Sniff) -> float:
    for line in s.first_nonblank_lines[:10]:
        index = line.find("#Entity")
        if index >= 0:
            return 0.95
    return 0.0


def parse_stamp(prefix: str, year: int | None) -> tuple[datetime | None, datetime | None]:
    """(UTC time, local time) from a line prefix; (None, None) when there is none."""
    text = prefix.strip().strip("[]").strip()
    if not text:
        return None, None
    if re.fullmatch(r"\d{10}(?:\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=timezone.utc), None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if parsed.tzinfo is not None:
            return parsed.astimezone(timezone.utc), None
        return None, parsed
    except ValueError:
        pass
    for fmt in STAMP_FORMATS:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if "%Y" not in fmt:
            parsed = parsed.replace(year=year or datetime.now(timezone.utc).year)
        return None, parsed
    return None, None


def _value(token: str | None) -> tuple[float | str | None, bool]:
    """(value, was_blank_sentinel)."""
    if token is None:
        return None, False
    token = token.strip()
    if not token or token == "N/A":
        return None, False
    try:
        number = float(token)
    except ValueError:
        return token, False
    if number >= BLANK:
        return None, True
    return number, False


def split_cells(line: str, entity_at: int, body: str, header: list[tuple[str, int]]) -> list[str] | None:
    """The row's cells. Numbers never hold spaces; a string field (a name, a UUID) may: with one
    string column the extra words are its own, otherwise cells are cut at the header's columns."""
    tokens = body.split()
    if len(tokens) == len(header):
        return tokens
    if len(tokens) < len(header):
        return None
    text = [i for i, (short, _) in enumerate(header)
            if (f := FIELDS_BY_SHORT.get(short.upper())) is not None and f.text]
    if len(text) == 1:
        k = text[0]
        after = len(header) - k - 1
        return tokens[:k] + [" ".join(tokens[k:len(tokens) - after])] + (tokens[len(tokens) - after:] if after else [])
    cells = []
    for i, (_, col) in enumerate(header):
        end = header[i + 1][1] if i + 1 < len(header) else None
        cells.append(line[entity_at + col: entity_at + end if end is not None else None].strip())
    return cells if all(cells) else None


def start_options(ctx: ParseContext) -> tuple[datetime | None, datetime | None, float]:
    raw = ctx.options.get("dcgmi_start")
    delay_ms = float(ctx.options.get("dcgmi_delay_ms", "1000") or 1000)
    if not raw:
        return None, None, delay_ms
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        ctx.warn(None, "--option dcgmi_start is not an ISO 8601 time", raw)
        return None, None, delay_ms
    if start.tzinfo is None:
        return None, start, delay_ms
    return start.astimezone(timezone.utc), None, delay_ms


def parse(ctx: ParseContext) -> None:
    start_utc, start_local, delay_ms = start_options(ctx)
    writer = GpuWriter(ctx)
    header: list[tuple[str, int]] | None = None  # (short name, start column relative to '#Entity')
    cycle = -1
    seen: set[str] = set()
    no_time = blanks = 0
    for n, line in enumerate(read_text_lines(ctx), start=1):
        if not line.strip():
            continue
        entity_at = line.find("#Entity")
        if entity_at >= 0:
            rest = line[entity_at:]
            header = [(m.group(0), m.start()) for m in re.finditer(r"\S+", rest)][1:]
            continue
        if STOPPED in line:
            continue
        if header is None:
            ctx.warn(f"line:{n}", "dmon row before any #Entity header", line)
            continue
        match = ENTITY.search(line)
        if not match:
            if re.search(r"(^|\s)ID(\s|$)", line):
                continue  # the units line under the header
            ctx.warn(f"line:{n}", "not a dmon row (no entity label)", line)
            continue
        prefix = line[: match.start()]
        entity = " ".join(match.group("entity").split())
        body = line[match.end():]
        tokens = body.split()
        cells = split_cells(line, match.start(), body, header)
        if cells is None:
            ctx.warn(f"line:{n}", f"dmon row has {len(tokens)} values for {len(header)} columns", line)
            continue
        if entity in seen or cycle < 0:
            cycle += 1
            seen = set()
        seen.add(entity)
        ts, local = parse_stamp(prefix, ctx.hints.year)
        if ts is None and local is None:
            if start_utc is not None:
                ts = start_utc + timedelta(milliseconds=cycle * delay_ms)
            elif start_local is not None:
                local = start_local + timedelta(milliseconds=cycle * delay_ms)
            else:
                no_time += 1
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for (short, _), cell in zip(header, cells):
            value, blank = _value(cell)
            blanks += blank
            field = FIELDS_BY_SHORT.get(short.upper())
            if field and field.column and not isinstance(value, str):
                values[field.column] = value
            elif value is not None:
                extra[field.macro if field else short] = value
        parts = entity.split()
        row: dict[str, Any] = {"ts": ts, "ts_local": local, "ts_raw": prefix.strip() or None,
                               "ts_inferred": not (ts is not None and prefix.strip()),
                               "index_kind": "dcgm", "locator": f"line:{n}", "labels": {"entity": entity}}
        if parts[0] == "GPU":
            row["gpu_index"] = int(parts[1])
            if len(parts) > 2:
                row["labels"]["link"] = int(parts[3])
        elif parts[0] in ("GPU-I", "GPU-CI"):
            row["mig_instance"] = entity
        uuid = extra.get("DCGM_FI_DEV_UUID")
        if isinstance(uuid, str):
            row["gpu_uuid"] = uuid
        bus = extra.get("DCGM_FI_DEV_PCI_BUSID")
        if isinstance(bus, str):
            row["pci_bus_id"] = bus
        writer.add("gpu_samples", extra=extra, **row, **values)
    if no_time:
        ctx.warn(None, f"{no_time} dmon rows have no time (dmon prints none): give --option dcgmi_start=ISO-TIME "
                 "[--option dcgmi_delay_ms=N] to place them")
    if blanks:
        ctx.warn(None, f"{blanks} DCGM blank values (N/A sentinels) read as no value")
    writer.close()
    derive_entities(ctx)


register(Parser(
    name="dcgmi_dmon",
    description="dcgmi dmon text (fields by DCGM id, optional leading time stamps, MIG and link rows)",
    tables=("gpu_samples", "entities"),
    sniff=sniff,
    parse=parse,
))
