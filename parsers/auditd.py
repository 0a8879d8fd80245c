"""Linux audit logs: ``/var/log/audit/audit.log`` as auditd writes it (RAW or ENRICHED), the same
records from ``ausearch`` (``--raw``, or interpreted with ``-i``), or forwarded with a syslog prefix.

Fills ``processes`` (every execve with pid, parent, uid, exe, the full decoded argv, cwd and the
sandbox its init process names) and ``process_sockets`` (connect/bind/accept/sendto with the
decoded address and whether it succeeded). The record grammar lives in forensics/host/audit.py.
"""

from __future__ import annotations

import re

from forensics.context import ParseContext
from forensics.host.audit import parse_audit
from forensics.registry import Parser, Sniff, register

_RECORD = re.compile(r"(?:^|\s)type=[A-Z_0-9]+ (?:msg=)?audit\([^)]+\)\s?:")


def sniff(s: Sniff) -> float:
    lines = [line for line in s.first_nonblank_lines if line.strip() not in ("----",)
             and not line.startswith("time->")]
    if not lines:
        return 0.0
    hits = sum(1 for line in lines if _RECORD.search(line))
    if hits == 0:
        return 0.0
    share = hits / len(lines)
    return 0.95 if share >= 0.5 else 0.5 * share + 0.2


def parse(ctx: ParseContext) -> None:
    parse_audit(ctx, source_format="auditd")


register(Parser(
    name="auditd",
    description="Linux audit log (audit.log raw or enriched, ausearch --raw or -i): execve and socket events",
    tables=("processes", "process_sockets"),
    sniff=sniff,
    parse=parse,
    extensions=(".log",),
))
