"""Packet captures (pcap and pcapng, plain or compressed, any size).

tshark dissects (one ``-T fields`` pass per chunk, loaded by DuckDB); the machinery lives in
``forensics.pcap``. Fills ``flows`` (Zeek conn.log columns), ``ssh_sessions``, ``dns``, ``tls``,
``http`` and ``jsonrpc_msgs``. Without tshark the file fails with a warning that says to install it.
"""

from __future__ import annotations

from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

# Classic pcap (both byte orders, micro- and nanosecond) and the pcapng section header block.
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDER = (b"\x1a\x2b\x3c\x4d", b"\x4d\x3c\x2b\x1a")


def sniff(s: Sniff) -> float:
    head = s.head
    if len(head) >= 24 and head[:4] in PCAP_MAGICS:
        return 1.0
    if len(head) >= 12 and head[:4] == PCAPNG_SHB and head[8:12] in PCAPNG_BYTE_ORDER:
        return 1.0
    return 0.0


def parse(ctx: ParseContext) -> None:
    from forensics.pcap import ingest_capture

    ingest_capture(ctx)


register(Parser(
    name="pcap",
    description="Packet captures (pcap, pcapng): connections, SSH, DNS, TLS, HTTP and stratum/JSON-RPC via tshark",
    tables=("flows", "ssh_sessions", "dns", "tls", "http", "jsonrpc_msgs"),
    sniff=sniff,
    parse=parse,
    version="1",
    extensions=(".pcap", ".pcapng", ".cap"),
))
