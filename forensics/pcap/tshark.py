"""Driving tshark: finding it, splitting big captures, and one ``-T fields`` pass per chunk.

tshark is the dissector. pyshark finds it (its path lookup honours pyshark's config.ini and the
usual install locations); the bulk extraction is one ``tshark -T fields`` pass per chunk written
to a TSV file that DuckDB loads. tshark keeps per-frame state for the whole file, so its memory
grows with the packet count: captures above a size threshold are split with ``editcap -c N``
into chunks of N packets first, and the flows are stitched across chunks afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from forensics.errors import ForensicsError

# The aggregator between several occurrences of one field in a frame (tunnels, ICMP errors that
# quote a packet, several DNS answers). A control character never found in tshark's escaped
# string output, unlike ',' which user agents and TXT records contain.
AGGREGATOR = "\x1f"

# (column name, tshark field). Column order is the TSV's column order.
FIELDS: tuple[tuple[str, str], ...] = (
    ("frame", "frame.number"),
    ("ts", "frame.time_epoch"),
    ("protocols", "frame.protocols"),
    ("ip_src", "ip.src"),
    ("ip_dst", "ip.dst"),
    ("ip_len", "ip.len"),
    ("ip6_src", "ipv6.src"),
    ("ip6_dst", "ipv6.dst"),
    ("ip6_plen", "ipv6.plen"),
    ("tcp_sport", "tcp.srcport"),
    ("tcp_dport", "tcp.dstport"),
    ("tcp_stream", "tcp.stream"),
    ("tcp_flags", "tcp.flags"),
    ("tcp_seq", "tcp.seq_raw"),
    ("tcp_len", "tcp.len"),
    ("tcp_retrans", "tcp.analysis.retransmission"),
    ("udp_sport", "udp.srcport"),
    ("udp_dport", "udp.dstport"),
    ("udp_len", "udp.length"),
    ("icmp_type", "icmp.type"),
    ("icmp_code", "icmp.code"),
    ("icmp6_type", "icmpv6.type"),
    ("icmp6_code", "icmpv6.code"),
    ("dns_id", "dns.id"),
    ("dns_response", "dns.flags.response"),
    ("dns_opcode", "dns.flags.opcode"),
    ("dns_rcode", "dns.flags.rcode"),
    ("dns_aa", "dns.flags.authoritative"),
    ("dns_tc", "dns.flags.truncated"),
    ("dns_rd", "dns.flags.recdesired"),
    ("dns_ra", "dns.flags.recavail"),
    ("dns_qname", "dns.qry.name"),
    ("dns_qtype", "dns.qry.type"),
    ("dns_qclass", "dns.qry.class"),
    ("dns_n_answers", "dns.count.answers"),
    ("dns_rr_type", "dns.resp.type"),
    ("dns_rr_ttl", "dns.resp.ttl"),
    ("dns_a", "dns.a"),
    ("dns_aaaa", "dns.aaaa"),
    ("dns_cname", "dns.cname"),
    ("dns_ptr", "dns.ptr.domain_name"),
    ("dns_ns", "dns.ns"),
    ("dns_mx", "dns.mx.mail_exchange"),
    ("dns_txt", "dns.txt"),
    ("tls_hs_type", "tls.handshake.type"),
    ("tls_sni", "tls.handshake.extensions_server_name"),
    ("tls_ja3", "tls.handshake.ja3"),
    ("tls_ja3s", "tls.handshake.ja3s"),
    ("tls_version", "tls.handshake.version"),
    ("tls_supported_version", "tls.handshake.extensions.supported_version"),
    ("http_method", "http.request.method"),
    ("http_host", "http.host"),
    ("http_uri", "http.request.uri"),
    ("http_user_agent", "http.user_agent"),
    ("http_status", "http.response.code"),
    ("http_body", "http.file_data"),
    ("payload", "tcp.payload"),
)

COLUMNS = tuple(name for name, _ in FIELDS)

# Dissectors we do not need: SSH we read ourselves from the payload (banner and KEXINIT, on any
# port); certificate contents and JSON/text bodies are never extracted (http.file_data comes from
# the HTTP dissector itself). Switching them off saves tshark work on every packet.
DISABLED_PROTOCOLS = ("ssh", "x509af", "x509ce", "x509if", "x509sat", "pkix1explicit", "pkix1implicit", "json",
                      "data-text-lines")
# TLS handshakes are still reassembled across segments (SNI, JA3); encrypted application data
# records are not, which is most of a TLS stream's bytes.
PREFERENCES = ("tcp.desegment_tcp_streams:TRUE", "tls.desegment_ssl_application_data:FALSE")
# Teredo on ports other than 3544 (the relay's dynamic port) is only found by its heuristic.
ENABLED_HEURISTICS = ("teredo_udp",)

# Captures larger than this are split into chunks before tshark reads them.
DEFAULT_SPLIT_BYTES = 256 << 20
DEFAULT_CHUNK_PACKETS = 300_000


class TsharkMissing(ForensicsError):
    """tshark is not installed: packet captures cannot be read."""


@dataclass
class Tools:
    tshark: str
    editcap: str | None

    def version(self) -> str:
        """tshark's version (runs ``tshark -v``; for reports and benchmarks, not the ingest path)."""
        try:
            out = subprocess.run([self.tshark, "-v"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        match = re.search(r"TShark \(Wireshark\) (\S+)", out)
        return match.group(1) if match else "unknown"


_TOOLS: Tools | None = None


def find_tools() -> Tools:
    """tshark (and editcap next to it), found through pyshark's lookup; cached."""
    global _TOOLS
    if _TOOLS is not None:
        return _TOOLS
    override = os.environ.get("FORENSICS_TSHARK")
    path: str | None = None
    if override:
        path = override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    else:
        try:
            from pyshark.tshark.tshark import TSharkNotFoundException, get_process_path

            try:
                path = get_process_path()
            except TSharkNotFoundException:
                path = None
        except ImportError:  # pyshark missing: fall back to PATH
            path = shutil.which("tshark")
    if not path or not os.access(path, os.X_OK):
        raise TsharkMissing(
            "tshark not found: packet captures need it; install tshark "
            "(Debian/Ubuntu: apt-get install tshark, or run ./scripts/setup as root) "
            "and ingest the capture again")
    editcap = os.path.join(os.path.dirname(path), "editcap")
    if not os.access(editcap, os.X_OK):
        editcap = shutil.which("editcap")
    _TOOLS = Tools(tshark=path, editcap=editcap)
    return _TOOLS


def reset_tools_cache() -> None:
    global _TOOLS
    _TOOLS = None


def tshark_command(tools: Tools, capture: str | Path, fields: tuple[tuple[str, str], ...] = FIELDS) -> list[str]:
    """The one ``-T fields`` pass: offline (``-n``), tab separated, every occurrence of a field."""
    command = [tools.tshark, "-n", "-r", str(capture), "-T", "fields",
               "-E", "separator=/t", "-E", "occurrence=a", "-E", f"aggregator={AGGREGATOR}",
               "-E", "header=n"]
    for preference in PREFERENCES:
        command += ["-o", preference]
    for protocol in DISABLED_PROTOCOLS:
        command += ["--disable-protocol", protocol]
    for heuristic in ENABLED_HEURISTICS:
        command += ["--enable-heuristic", heuristic]
    for _, name in fields:
        command += ["-e", name]
    return command


@dataclass
class Chunk:
    path: Path
    index: int
    frame_offset: int  # frame numbers in this chunk start after this many frames
    temporary: bool


@dataclass
class TsharkResult:
    returncode: int
    stderr: str
    problems: list[str] = field(default_factory=list)


# tshark's messages about damaged input, which we turn into warnings.
_NOISE = re.compile(r"^(Running as user|.*This could be dangerous)", re.I)


def clean_stderr(text: str) -> list[str]:
    """tshark's complaints without the root warning, its own prefix, or our temporary file names."""
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or _NOISE.match(line):
            continue
        line = re.sub(r"^(tshark|editcap): ", "", line)
        line = re.sub(r'The file "[^"]*"', "The capture", line)
        lines.append(line)
    return lines


def split_capture(tools: Tools, capture: Path, chunk_packets: int, scratch: Path) -> tuple[list[Chunk], list[str]]:
    """Split with ``editcap -c N`` into chunks of N packets (numbered in order). Returns the
    chunks and editcap's complaints (a damaged tail: the chunks hold every packet before it)."""
    if not tools.editcap:
        return [Chunk(capture, 0, 0, False)], ["editcap not found next to tshark; the capture is read whole"]
    scratch.mkdir(parents=True, exist_ok=True)
    base = scratch / "chunk.pcapng"
    proc = subprocess.run([tools.editcap, "-F", "pcapng", "-c", str(chunk_packets), str(capture), str(base)],
                          capture_output=True, text=True)
    parts = sorted(scratch.glob("chunk_*.pcapng"), key=lambda p: int(p.name.split("_")[1]))
    problems = clean_stderr(proc.stderr) if proc.returncode != 0 else []
    if not parts:
        # editcap could not read it at all: tshark on the original file reports why.
        return [Chunk(capture, 0, 0, False)], []
    return [Chunk(p, i, i * chunk_packets, True) for i, p in enumerate(parts)], problems
