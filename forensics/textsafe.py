"""Make text that came from evidence safe to show on a terminal.

Log lines, commands and payloads are attacker-controlled. Printed raw, an escape sequence can
rewrite the responder's screen, change the window title or hide lines (bidi overrides). Every
piece of evidence text printed by the command line goes through :func:`terminal_safe`, which
keeps printable text and renders everything else as a visible escape (``\\x1b``, ``\\u202e``).
"""

from __future__ import annotations

import re

# C0 controls except tab and newline, DEL, C1 controls; bidi embeddings/overrides/isolates,
# zero-width and line/paragraph separators that reorder or hide text; lone surrogates (from
# surrogateescape decoding), which no terminal encoding can carry. One pattern, one pass.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_UNSAFE_SINGLE_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def terminal_safe(value: object, single_line: bool = True, max_len: int | None = None) -> str:
    """Return ``value`` as text with control, escape and bidi characters made visible.

    ``single_line`` also escapes newlines and tabs (for table cells). ``max_len`` shortens the
    result with an ellipsis, counted after escaping.
    """
    if value is None:
        return ""
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="backslashreplace")
    else:
        text = str(value)
    pattern = _UNSAFE_SINGLE_LINE if single_line else _UNSAFE
    text = pattern.sub(_escape, text)
    if max_len is not None and len(text) > max_len:
        text = text[: max(0, max_len - 1)] + "…"
    return text


def is_printable_text(text: str) -> bool:
    """True when ``text`` holds no characters that :func:`terminal_safe` would escape."""
    return not _UNSAFE.search(text)
