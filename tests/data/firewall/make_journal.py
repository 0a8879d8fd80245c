"""Builds journal.json (journalctl -o json) and journal.export (journalctl -o export) from the
netfilter records of kern.log: the same packets as the kernel logged them, with the journal's own
microsecond stamps (0.25 s after the second rsyslog wrote), plus entries that are not packet logs.
Run from this folder: python make_journal.py"""

import json
import re
import struct
from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))
entries = []
for raw in open("kern.log", "rb").read().split(b"\n")[:9]:  # the first nine lines: clean records
    line = raw.decode()
    m = re.match(r"^(\w{3} +\d+ \d\d:\d\d:\d\d) (\S+) kernel: \[ *[\d.]+\] (.*)$", line)
    stamp, host, message = m.groups()
    year = 2025 if stamp.startswith("Dec") else 2026
    local = datetime.strptime(f"{year} {stamp}", "%Y %b %d %H:%M:%S").replace(tzinfo=SHANGHAI)
    micros = int(local.timestamp()) * 1_000_000 + 250_000
    entries.append({"__CURSOR": f"s=0;i={len(entries)}", "__REALTIME_TIMESTAMP": str(micros),
                    "__MONOTONIC_TIMESTAMP": "512004321", "_BOOT_ID": "5a1c0e", "_TRANSPORT": "kernel",
                    "SYSLOG_IDENTIFIER": "kernel", "_HOSTNAME": host, "MESSAGE": message.rstrip()})
entries.insert(3, {"__CURSOR": "s=0;i=x", "__REALTIME_TIMESTAMP": "1767196802000000", "_BOOT_ID": "5a1c0e",
                   "_TRANSPORT": "syslog", "SYSLOG_IDENTIFIER": "sshd", "_HOSTNAME": "gpu-node-03",
                   "MESSAGE": "Accepted publickey for ops from 10.20.0.5 port 51000 ssh2"})
with open("journal.json", "w") as out:
    for entry in entries:
        out.write(json.dumps(entry) + "\n")
    out.write('{"__CURSOR": "s=0;i=trunc", "__REALTIME_TIMESTAMP": "1767196810000000", "MESSAGE": "IN=eth0 OUT= SRC=10.2\n')
with open("journal.export", "wb") as out:
    for i, entry in enumerate(entries):
        for key, value in entry.items():
            if key == "MESSAGE" and i == 0:  # a binary-safe field, as journald writes one with a newline
                data = value.encode()
                out.write(b"MESSAGE\n" + struct.pack("<Q", len(data)) + data + b"\n")
            else:
                out.write(f"{key}={value}\n".encode())
        out.write(b"\n")
