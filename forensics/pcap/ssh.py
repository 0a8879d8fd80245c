"""SSH from the bytes of each direction: banner, KEXINIT, HASSH, and who is the client.

An SSH connection starts in clear text: each side sends its identification line
(``SSH-2.0-OpenSSH_9.6``), then binary packets (RFC 4253 §6: uint32 length, byte padding
length, payload) until both have sent NEWKEYS. We read that part ourselves, on any port:

* the banner, found by its ``SSH-`` prefix rather than by port;
* KEXINIT (message 20): the algorithm name-lists. HASSH is the md5 of the client's
  ``kex;enc c2s;mac c2s;comp c2s`` lists and HASSH-server of the server's s2c lists
  (salesforce/hassh);
* the key-exchange messages: DH/ECDH init (30), GEX request/init (34, 32) come from the SSH
  client, replies (31, 33) from the server. That, not the TCP SYN, says which side is the client;
  when the TCP responder is the SSH client, the roles are inverted (a reverse shell: Zeek's
  "ECC INIT not from the TCP client"). Without those messages the TCP originator is taken for
  the client and no inversion is claimed.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

from .streams import Run

KEXINIT = 20
NEWKEYS = 21
CLIENT_KEX_MESSAGES = {30, 32, 34}
SERVER_KEX_MESSAGES = {31, 33}
MAX_BANNER = 255
MAX_HANDSHAKE_PACKETS = 32


@dataclass
class KexInit:
    kex: list[str]
    host_key: list[str]
    enc_c2s: list[str]
    enc_s2c: list[str]
    mac_c2s: list[str]
    mac_s2c: list[str]
    comp_c2s: list[str]
    comp_s2c: list[str]


@dataclass
class SshSide:
    """What one direction of the stream said during the clear-text handshake."""

    banner: str | None = None
    banner_frame: int | None = None
    banner_ts: float | None = None
    kexinit: KexInit | None = None
    kexinit_frame: int | None = None
    messages: list[tuple[int, int]] = field(default_factory=list)  # (message code, frame)
    newkeys_frame: int | None = None
    problems: list[tuple[int | None, str, bytes]] = field(default_factory=list)

    @property
    def sends_client_kex(self) -> bool:
        return any(code in CLIENT_KEX_MESSAGES for code, _ in self.messages)

    @property
    def sends_server_kex(self) -> bool:
        return any(code in SERVER_KEX_MESSAGES for code, _ in self.messages)


def looks_like_banner(data: bytes) -> bool:
    return data.startswith(b"SSH-")


def _name_list(buf: bytes, pos: int) -> tuple[list[str], int]:
    (length,) = struct.unpack_from(">I", buf, pos)
    pos += 4
    if length > len(buf) - pos:
        raise ValueError("name-list runs past the packet")
    text = buf[pos:pos + length].decode("ascii", errors="replace")
    return ([n for n in text.split(",") if n] if text else []), pos + length


def parse_kexinit(payload: bytes) -> KexInit:
    """``payload`` starts at the message code byte (20)."""
    pos = 1 + 16  # code, cookie
    lists = []
    for _ in range(10):
        values, pos = _name_list(payload, pos)
        lists.append(values)
    return KexInit(kex=lists[0], host_key=lists[1], enc_c2s=lists[2], enc_s2c=lists[3], mac_c2s=lists[4],
                   mac_s2c=lists[5], comp_c2s=lists[6], comp_s2c=lists[7])


def read_side(runs: list[Run], packets: bool = True) -> SshSide:
    """Banner and (with ``packets``) clear-text handshake packets of one direction (the first
    run that has them)."""
    side = SshSide()
    for run in runs:
        data = bytes(run.data)
        start = 0
        if side.banner is None:
            # Servers may send other lines before the identification string (RFC 4253 §4.2).
            idx = 0 if data.startswith(b"SSH-") else data.find(b"\nSSH-")
            if idx < 0 or idx > 8192:
                continue
            if idx > 0:
                idx += 1
            end = data.find(b"\n", idx)
            if end < 0:
                side.banner = data[idx:idx + MAX_BANNER].decode("utf-8", errors="backslashreplace").rstrip("\r")
                side.banner_frame, side.banner_ts = run.frame_at(idx)
                side.problems.append((side.banner_frame, "SSH banner without an end of line", data[idx:idx + 120]))
                return side
            side.banner = data[idx:min(end, idx + MAX_BANNER)].decode("utf-8", errors="backslashreplace").rstrip("\r")
            side.banner_frame, side.banner_ts = run.frame_at(idx)
            start = end + 1
        if packets and side.banner.startswith(("SSH-2.0", "SSH-1.99")):
            _read_packets(data, start, run, side)
        return side
    return side


def _read_packets(data: bytes, pos: int, run: Run, side: SshSide) -> None:
    for _ in range(MAX_HANDSHAKE_PACKETS):
        if pos + 5 > len(data):
            return
        packet_length, padding = struct.unpack_from(">IB", data, pos)
        if all(32 <= b < 127 for b in data[pos:pos + 4]):
            return  # a text line after the banner (a server refusing a non-SSH client), not a packet
        if packet_length < 5 or packet_length > 256 * 1024 or padding >= packet_length:
            frame, _ = run.frame_at(pos)
            side.problems.append((frame, "SSH binary packet with an impossible length before NEWKEYS",
                                  data[pos:pos + 64]))
            return
        if pos + 4 + packet_length > len(data):
            return  # the capture stops inside the packet
        payload = data[pos + 5:pos + 4 + packet_length - padding]
        frame, _ = run.frame_at(pos)
        if not payload:
            return
        code = payload[0]
        side.messages.append((code, frame))
        if code == KEXINIT and side.kexinit is None:
            try:
                side.kexinit = parse_kexinit(payload)
                side.kexinit_frame = frame
            except (ValueError, struct.error):
                side.problems.append((frame, "malformed SSH KEXINIT", payload[:64]))
        if code == NEWKEYS:
            side.newkeys_frame = frame
            return
        pos += 4 + packet_length


def hassh(kex: KexInit) -> tuple[str, str]:
    algorithms = ";".join([",".join(kex.kex), ",".join(kex.enc_c2s), ",".join(kex.mac_c2s), ",".join(kex.comp_c2s)])
    return hashlib.md5(algorithms.encode()).hexdigest(), algorithms


def hassh_server(kex: KexInit) -> tuple[str, str]:
    algorithms = ";".join([",".join(kex.kex), ",".join(kex.enc_s2c), ",".join(kex.mac_s2c), ",".join(kex.comp_s2c)])
    return hashlib.md5(algorithms.encode()).hexdigest(), algorithms


def _negotiate(client: list[str], server: list[str]) -> str | None:
    for name in client:
        if name in server:
            return name
    return None


def is_ssh2(banner: str | None) -> bool:
    """SSH-2 (or 1.99, which also speaks 2); a peer that says SSH-1.x makes the session SSH-1."""
    return banner is None or banner.startswith(("SSH-2.0", "SSH-1.99"))


def read_sides(orig_runs: list[Run], resp_runs: list[Run]) -> tuple[SshSide, SshSide]:
    """Both directions; the binary handshake is read only when both sides speak SSH-2 (an
    SSH-1.99 server talking to an SSH-1.5 client uses the SSH-1 packet format)."""
    orig, resp = read_side(orig_runs, packets=False), read_side(resp_runs, packets=False)
    if is_ssh2(orig.banner) and is_ssh2(resp.banner):
        orig, resp = read_side(orig_runs), read_side(resp_runs)
    return orig, resp


def session_row(orig: SshSide, resp: SshSide) -> dict | None:
    """One ssh_sessions row (without the connection and traffic columns), or None when neither
    side spoke SSH."""
    if orig.banner is None and resp.banner is None:
        return None
    if orig.sends_client_kex or resp.sends_server_kex:
        client_side, basis = "orig", "kex"
    elif resp.sends_client_kex or orig.sends_server_kex:
        client_side, basis = "resp", "kex"
    else:
        # No key-exchange message seen (SSH-1, a capture cut short, or only one side spoke):
        # the TCP originator is taken for the client, and no inversion is claimed.
        client_side, basis = "orig", "tcp"
    client, server = (orig, resp) if client_side == "orig" else (resp, orig)
    version = 2 if is_ssh2(client.banner) and is_ssh2(server.banner) else 1
    row = {
        "version": version,
        "client": client.banner,
        "server": server.banner,
        "ssh_client_side": client_side,
        "role_basis": basis,
        "role_inverted": client_side == "resp",
        "hassh": None, "hassh_algorithms": None, "hassh_server": None, "hassh_server_algorithms": None,
        "kex_alg": None, "host_key_alg": None, "cipher_alg": None, "mac_alg": None, "compression_alg": None,
        "newkeys_frame": min([f for f in (orig.newkeys_frame, resp.newkeys_frame) if f is not None], default=None),
        "banner_frame": min([f for f in (orig.banner_frame, resp.banner_frame) if f is not None], default=None),
    }
    if client.kexinit:
        row["hassh"], row["hassh_algorithms"] = hassh(client.kexinit)
    if server.kexinit:
        row["hassh_server"], row["hassh_server_algorithms"] = hassh_server(server.kexinit)
    if client.kexinit and server.kexinit:
        c, s = client.kexinit, server.kexinit
        row["kex_alg"] = _negotiate(c.kex, s.kex)
        row["host_key_alg"] = _negotiate(c.host_key, s.host_key)
        row["cipher_alg"] = _negotiate(c.enc_c2s, s.enc_c2s)
        row["mac_alg"] = _negotiate(c.mac_c2s, s.mac_c2s)
        row["compression_alg"] = _negotiate(c.comp_c2s, s.comp_c2s)
    return row
