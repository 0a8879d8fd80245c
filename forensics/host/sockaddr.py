"""Socket addresses as the audit system writes them.

A raw SOCKADDR record holds the ``struct sockaddr`` a process passed to connect/bind/sendto as
hex (``saddr=02000D3DCB00713200000000...``): the family in host byte order (little-endian on
x86-64 and arm64), then for AF_INET the port and address in network order, for AF_INET6 port,
flow info, the 16-byte address and the scope id, for AF_UNIX a NUL-terminated path (a leading NUL
makes it an abstract name). ``ausearch -i`` prints the decoded form
(``{ saddr_fam=inet laddr=203.0.113.50 lport=22 }``), laurel percent-encodes the raw bytes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

FAMILIES = {1: "local", 2: "inet", 10: "inet6", 16: "netlink", 17: "packet", 40: "vsock"}
_FAMILY_NAMES = {"unix": "local", "local": "local", "inet": "inet", "inet4": "inet", "inet6": "inet6",
                 "netlink": "netlink", "packet": "packet", "vsock": "vsock"}
_HEX = re.compile(r"^[0-9A-Fa-f]*$")
_INTERPRETED_FIELD = re.compile(r"(\w[\w-]*)=(\S+)")


@dataclass(frozen=True)
class SockAddr:
    family: str | None = None
    address: str | None = None   # IPv4 or IPv6 text (IPv4-mapped IPv6 shown as IPv4)
    port: int | None = None
    path: str | None = None      # AF_UNIX path, abstract names as @name
    error: str | None = None     # why the value could not be decoded (fully)


def _ip6(raw: bytes) -> str:
    address = ipaddress.IPv6Address(raw)
    return str(address.ipv4_mapped) if address.ipv4_mapped else str(address)


def decode_bytes(raw: bytes) -> SockAddr:
    if len(raw) < 2:
        return SockAddr(error="sockaddr shorter than its family field")
    family_number = int.from_bytes(raw[:2], "little")
    if family_number not in FAMILIES and int.from_bytes(raw[:2], "big") in FAMILIES:
        family_number = int.from_bytes(raw[:2], "big")  # a big-endian host (s390x, ppc64)
    family = FAMILIES.get(family_number)
    if family is None:
        return SockAddr(family=str(family_number), error=f"unknown address family {family_number}")
    if family == "inet":
        if len(raw) < 8:
            return SockAddr(family=family, error="AF_INET sockaddr truncated")
        return SockAddr(family, str(ipaddress.IPv4Address(raw[4:8])), int.from_bytes(raw[2:4], "big"))
    if family == "inet6":
        if len(raw) < 24:
            port = int.from_bytes(raw[2:4], "big") if len(raw) >= 4 else None
            return SockAddr(family=family, port=port, error="AF_INET6 sockaddr truncated")
        return SockAddr(family, _ip6(raw[8:24]), int.from_bytes(raw[2:4], "big"))
    if family == "local":
        body = raw[2:]
        abstract = body[:1] == b"\x00"
        if abstract:
            body = body[1:]
        name = body.split(b"\x00", 1)[0].decode("utf-8", errors="backslashreplace")
        return SockAddr(family, path=("@" + name) if abstract else name)
    return SockAddr(family)


def decode_interpreted(text: str) -> SockAddr:
    """``{ saddr_fam=inet laddr=203.0.113.50 lport=22 }`` (ausearch -i, auditd ENRICHED)."""
    fields = dict(_INTERPRETED_FIELD.findall(text))
    family = fields.get("saddr_fam") or fields.get("fam")
    family = _FAMILY_NAMES.get((family or "").lower(), family)
    address = fields.get("laddr") or fields.get("addr")
    port = fields.get("lport") or fields.get("port")
    path = fields.get("path")
    try:
        port_number = int(port) if port is not None else None
    except ValueError:
        port_number = None
    if address:
        try:
            parsed = ipaddress.ip_address(address.strip("[]"))
            if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
                parsed = parsed.ipv4_mapped
            address = str(parsed)
        except ValueError:
            return SockAddr(family, address, port_number, path, error=f"not an IP address: {address}")
    if family is None and address is None and path is None:
        return SockAddr(error="no address family in the decoded sockaddr")
    return SockAddr(family, address, port_number, path)


def decode(value: str | None) -> SockAddr:
    """A SOCKADDR value in any of its spellings: hex, laurel's percent encoding, or decoded."""
    if value is None:
        return SockAddr(error="empty sockaddr")
    text = value.strip()
    if text.startswith('"') and text.endswith('"') and len(text) >= 2:
        text = text[1:-1]
    if text.startswith("{"):
        return decode_interpreted(text)
    if "%" in text:
        return decode_bytes(unquote_to_bytes(text))
    if not text:
        return SockAddr(error="empty sockaddr")
    if not _HEX.match(text):
        return SockAddr(error="sockaddr is not hex")
    if len(text) % 2:
        decoded = decode_bytes(bytes.fromhex(text[:-1]))
        return SockAddr(decoded.family, decoded.address, decoded.port, decoded.path,
                        error="sockaddr hex has an odd number of digits (truncated)")
    return decode_bytes(bytes.fromhex(text))
