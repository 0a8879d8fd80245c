"""Turning DuckDB values into stable, plain values for reports and exports.

Reports must be byte-identical for the same case, so every value goes through one place that
fixes its text: timestamps as ISO 8601 UTC with a ``Z``, floats rounded to six decimals (parallel
aggregation may change the last bits of a sum), JSON with sorted keys, structs as dicts in column
order and lists kept in their SQL order.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import uuid
from typing import Any

from forensics.textsafe import terminal_safe

FLOAT_DIGITS = 6

def visible(value: Any, single_line: bool = False) -> str:
    """Text with control, bidi and invisible characters shown as escapes (see forensics.textsafe)."""
    return terminal_safe(value, single_line=single_line)


def iso_utc(value: dt.datetime | dt.date | dt.time) -> str:
    """ISO 8601 in UTC with a ``Z``; microseconds only when there are any."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            suffix = "Z"
        else:
            suffix = ""
        text = value.strftime("%Y-%m-%dT%H:%M:%S")
        if value.microsecond:
            text += f".{value.microsecond:06d}".rstrip("0")
        return text + suffix
    return value.isoformat()


def plain(value: Any) -> Any:
    """A JSON-ready value with a fixed text form (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        rounded = round(value, FLOAT_DIGITS)
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, decimal.Decimal):
        return plain(float(value)) if value != value.to_integral_value() else int(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return iso_utc(value)
    if isinstance(value, dt.timedelta):
        return plain(value.total_seconds())
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    return str(value)


def parse_json_column(value: Any) -> Any:
    """A JSON column's text as a value (kept as text when it does not parse)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def text(value: Any) -> str:
    """One line of text for a table cell (lists of scalars joined with commas)."""
    value = plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(text(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def is_record_list(value: Any) -> bool:
    """A list of structs (evidence references, per-incident steps): rendered as a nested table."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)
