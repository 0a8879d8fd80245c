"""JSON-RPC messages (stratum, XMRig, getwork) out of reassembled TCP bytes and HTTP bodies.

Stratum is newline-delimited JSON-RPC, but the wire does not respect lines: one message may be
split across segments and several may share one. We therefore frame on the reassembled byte
stream of each direction with a JSON decoder (``raw_decode``), not on packets: a message is
whatever one JSON value spans, wherever the segment boundaries fall. A message that breaks off
at the end of the capture (or before a gap) is reported with its frame; bytes that are not JSON
are skipped to the next line and counted.

Field extraction follows the documented dialects:

* Stratum V1: ``mining.subscribe [agent, ...]``, ``mining.authorize [user, pass]``,
  ``mining.submit [worker, job, extranonce2, ntime, nonce]``, ``mining.notify [job_id, ...]``,
  replies ``{"result": true, "error": null}`` or ``error: [code, message, data]``.
* XMRig / CryptoNote: ``login {login, pass, agent, algo}``, ``job {blob, job_id, target, algo}``,
  ``submit {id, job_id, nonce, result}``, ``keepalived``; replies ``result.status "OK"`` or
  ``error {code, message}``.
* Ethereum stratum / getwork: ``eth_submitLogin [wallet, ...]``, ``eth_getWork``,
  ``eth_submitWork``, ``eth_submitHashrate``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

from .streams import Run

_DECODER = json.JSONDecoder()
_WS = b" \t\r\n"
MAX_MESSAGE = 1 << 20
JSON_TEXT_LIMIT = 4000

# Worker names follow the wallet after a '.', '+' or '/' (pool conventions); a wallet itself
# never contains those.
_WORKER_SPLIT = re.compile(r"[./+]")


@dataclass
class Message:
    offset: int
    frame: int
    ts: float
    value: Any


@dataclass
class FramingProblem:
    frame: int
    reason: str
    excerpt: bytes


def frame_messages(run: Run) -> tuple[list[Message], list[FramingProblem], int]:
    """JSON values in one contiguous run. Returns messages, problems, and bytes skipped."""
    data = bytes(run.data)
    text = data.decode("utf-8", errors="surrogateescape")
    # Offsets in `text` equal byte offsets only for ASCII; map through a byte-index table when
    # the run holds anything else (rare: wallets, methods and hex blobs are ASCII).
    ascii_only = len(text) == len(data)
    messages: list[Message] = []
    problems: list[FramingProblem] = []
    skipped = 0
    pos = 0
    n = len(text)
    while pos < n:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            break
        byte_pos = pos if ascii_only else len(text[:pos].encode("utf-8", errors="surrogateescape"))
        if text[pos] not in "{[":
            end = text.find("\n", pos)
            end = n if end < 0 else end + 1
            skipped += (end - pos)
            if messages or _looks_jsonish(text[pos:end]):
                frame, _ = run.frame_at(byte_pos)
                problems.append(FramingProblem(frame, "bytes that are not a JSON-RPC message skipped",
                                               data[byte_pos:byte_pos + 160]))
            pos = end
            continue
        try:
            value, end = _DECODER.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            frame, _ = run.frame_at(byte_pos)
            line_end = text.find("\n", pos)
            if exc.pos >= n - 1 or (line_end < 0 and exc.msg.startswith("Unterminated string")):
                problems.append(FramingProblem(frame, "JSON message breaks off (capture or stream ends mid-message)",
                                               data[byte_pos:byte_pos + 160]))
                skipped += n - pos
                break
            end = n if line_end < 0 else line_end + 1
            problems.append(FramingProblem(frame, f"malformed JSON message ({exc.msg})",
                                           data[byte_pos:byte_pos + 160]))
            skipped += end - pos
            pos = end
            continue
        frame, ts = run.frame_at(byte_pos)
        messages.append(Message(byte_pos, frame, ts, value))
        pos = end
    return messages, problems, skipped


def _looks_jsonish(text: str) -> bool:
    return '"method"' in text or '"result"' in text or '"jsonrpc"' in text


def _text(value: Any, limit: int = 512) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))[:limit]


def _json(value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if len(text) > JSON_TEXT_LIMIT:
        text = json.dumps({"truncated": True, "excerpt": text[:JSON_TEXT_LIMIT]})
    return text


def split_login(login: str | None) -> tuple[str | None, str | None]:
    """Wallet and worker from a pool login ("4AdU...x.rig1", "0x9c99.../worker", "t1Kj.kvetak")."""
    if not login:
        return None, None
    parts = _WORKER_SPLIT.split(login, maxsplit=1)
    wallet = parts[0] or None
    worker = parts[1] if len(parts) > 1 and parts[1] else None
    return wallet, worker


def _algo(value: Any) -> str | None:
    if isinstance(value, list):
        names = [str(v) for v in value if isinstance(v, (str, int))]
        return ",".join(names) if names else None
    if isinstance(value, str):
        return value
    return None


def message_fields(value: Any) -> Iterator[dict]:
    """Rows (without connection columns) for one decoded JSON value; a batch gives several."""
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                yield from message_fields(item)
        return
    if not isinstance(value, dict):
        return
    if not any(k in value for k in ("method", "result", "error", "id", "jsonrpc")):
        return
    method = value.get("method") if isinstance(value.get("method"), str) else None
    params = value.get("params")
    has_id = "id" in value and value["id"] is not None
    if method is not None:
        kind = "request" if has_id else "notification"
    elif "result" in value or "error" in value:
        kind = "response"
    else:
        kind = "notification"
    row: dict[str, Any] = {
        "msg_kind": kind, "id": _text(value.get("id"), 128) if has_id else None, "method": method,
        "login": None, "wallet": None, "worker": None, "agent": None, "algo": None, "job_id": None,
        "result": _json(value.get("result")) if "result" in value else None,
        "status": None, "error": None, "error_code": None, "error_message": None,
        "params": _json(params),
    }
    m = (method or "").lower()
    if isinstance(params, dict):
        if m in ("login", "eth_submitlogin", "mining.authorize"):
            row["login"] = _text(params.get("login") or params.get("user"), 256)
        row["agent"] = _text(params.get("agent"), 256)
        row["algo"] = _algo(params.get("algo"))
        row["job_id"] = _text(params.get("job_id"), 128)
    elif isinstance(params, list):
        if m in ("mining.authorize", "eth_submitlogin") and params:
            row["login"] = _text(params[0], 256)
        elif m == "mining.subscribe" and params:
            row["agent"] = _text(params[0], 256)
        elif m == "mining.notify" and params:
            row["job_id"] = _text(params[0], 128)
        elif m == "mining.submit" and len(params) > 1:
            row["worker"] = _text(params[0], 256)
            row["job_id"] = _text(params[1], 128)
    result = value.get("result")
    if isinstance(result, dict):
        row["status"] = _text(result.get("status"), 64)
        job = result.get("job")
        if isinstance(job, dict):
            row["job_id"] = row["job_id"] or _text(job.get("job_id"), 128)
            row["algo"] = row["algo"] or _algo(job.get("algo"))
        row["algo"] = row["algo"] or _algo(result.get("algo"))
    error = value.get("error")
    if error is not None:
        row["error"] = _json(error)
        if isinstance(error, dict):
            code = error.get("code")
            row["error_code"] = int(code) if isinstance(code, (int, float)) and not isinstance(code, bool) else None
            row["error_message"] = _text(error.get("message"), 512)
        elif isinstance(error, list) and error:
            code = error[0]
            row["error_code"] = int(code) if isinstance(code, (int, float)) and not isinstance(code, bool) else None
            row["error_message"] = _text(error[1], 512) if len(error) > 1 else None
        elif isinstance(error, str):
            row["error_message"] = error[:512]
    if row["login"]:
        row["wallet"], row["worker"] = split_login(row["login"])
    if row["error_code"] is not None and not (-2**31 <= row["error_code"] < 2**31):
        row["error_code"] = None
    yield {key: _clean(value) if isinstance(value, str) else value for key, value in row.items()}


def _clean(text: str) -> str:
    """Bytes that were not UTF-8 (kept as surrogates while framing, so offsets stay exact)
    become U+FFFD, as tshark renders them."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def unescape_tshark(text: str) -> str:
    """tshark escapes control characters and backslashes in string fields (\\n, \\r, \\t, \\\\,
    \\xNN); undo that for HTTP bodies we parse as JSON."""
    if "\\" not in text:
        return text
    out = []
    i = 0
    n = len(text)
    simple = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
              '"': '"', "'": "'"}
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            if nxt == "x" and i + 3 < n + 1:
                try:
                    out.append(chr(int(text[i + 2:i + 4], 16)))
                    i += 4
                    continue
                except ValueError:
                    pass
        out.append(ch)
        i += 1
    return "".join(out)
