"""Small packet captures built in Python for the pcap tests and the benchmark.

Ethernet/IPv4/TCP and UDP frames are packed with struct; a :class:`TcpConversation` keeps the
sequence numbers of both sides so the captures look like real TCP to tshark (handshake, data,
bare ACKs, FIN/RST). SSH helpers write real clear-text SSH (banner, KEXINIT, ECDH init/reply,
NEWKEYS) followed by opaque "encrypted" records of chosen sizes, which is what a tunnel detector
sees on the wire.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path

ETH_IPV4 = 0x0800


def _mac(n: int) -> bytes:
    return bytes([0x02, 0, 0, 0, (n >> 8) & 0xFF, n & 0xFF])


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 0) -> bytes:
    header = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, proto, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
    return header + payload


def ether(payload: bytes, src: int = 1, dst: int = 2) -> bytes:
    return _mac(dst) + _mac(src) + struct.pack(">H", ETH_IPV4) + payload


def tcp_segment(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"", window: int = 65535) -> bytes:
    return struct.pack(">HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, window, 0, 0) + payload


def udp_datagram(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


@dataclass
class Capture:
    """Frames (time, bytes) written as a classic pcap (Ethernet unless told otherwise)."""

    frames: list[tuple[float, bytes]] = field(default_factory=list)
    linktype: int = 1

    def add(self, ts: float, frame: bytes) -> None:
        self.frames.append((ts, frame))

    def udp(self, ts: float, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        self.add(ts, ether(ipv4(src, dst, 17, udp_datagram(sport, dport, payload))))

    def write(self, path: str | os.PathLike[str], sort: bool = True) -> Path:
        frames = sorted(self.frames, key=lambda f: f[0]) if sort else self.frames
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, self.linktype)]
        for ts, data in frames:
            sec = int(ts)
            usec = int(round((ts - sec) * 1_000_000))
            if usec >= 1_000_000:
                sec, usec = sec + 1, usec - 1_000_000
            out.append(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
        path = Path(path)
        path.write_bytes(b"".join(out))
        return path


    def write_pcapng(self, path: str | os.PathLike[str]) -> Path:
        """The same frames as pcapng: a section header, one interface, enhanced packet blocks."""
        def block(btype: int, body: bytes) -> bytes:
            body += b"\x00" * (-len(body) % 4)
            length = 12 + len(body)
            return struct.pack("<II", btype, length) + body + struct.pack("<I", length)

        out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
               block(1, struct.pack("<HHI", self.linktype, 0, 262144))]
        for ts, data in sorted(self.frames, key=lambda f: f[0]):
            micros = int(round(ts * 1_000_000))
            out.append(block(6, struct.pack("<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(data), len(data)) + data))
        path = Path(path)
        path.write_bytes(b"".join(out))
        return path


class TcpConversation:
    """One TCP connection between a client (the SYN sender) and a server."""

    def __init__(self, capture: Capture, client: tuple[str, int], server: tuple[str, int], isn_c: int = 1000,
                 isn_s: int = 50_000, mss: int = 1448) -> None:
        self.cap = capture
        self.client, self.server = client, server
        self.seq = {True: isn_c, False: isn_s}  # next sequence number each side sends (True: client)
        self.mss = mss
        self.ident = 0

    def _emit(self, ts: float, from_client: bool, flags: int, payload: bytes = b"", seq: int | None = None) -> None:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        ack = self.seq[not from_client] if flags & ACK else 0
        s = self.seq[from_client] if seq is None else seq
        self.ident += 1
        self.cap.add(ts, ether(ipv4(src[0], dst[0], 6, tcp_segment(src[1], dst[1], s, ack, flags, payload), self.ident),
                               src=1 if from_client else 2, dst=2 if from_client else 1))

    def handshake(self, ts: float, rtt: float = 0.01) -> float:
        self._emit(ts, True, SYN)
        self.seq[True] += 1
        self._emit(ts + rtt / 2, False, SYN | ACK)
        self.seq[False] += 1
        self._emit(ts + rtt, True, ACK)
        return ts + rtt

    def send(self, ts: float, from_client: bool, data: bytes, segment: int | None = None, gap: float = 0.0001) -> float:
        """Data in segments of at most ``segment`` (default MSS) bytes; returns the last time."""
        size = segment or self.mss
        t = ts
        for i in range(0, len(data), size):
            chunk = data[i:i + size]
            self._emit(t, from_client, PSH | ACK, chunk)
            self.seq[from_client] += len(chunk)
            t += gap
        return t

    def ack(self, ts: float, from_client: bool) -> None:
        self._emit(ts, from_client, ACK)

    def retransmit(self, ts: float, from_client: bool, data: bytes, back: int) -> None:
        """Send ``data`` again at ``back`` bytes before the side's current sequence number."""
        self._emit(ts, from_client, PSH | ACK, data, seq=self.seq[from_client] - back)

    def close(self, ts: float, rtt: float = 0.01) -> float:
        self._emit(ts, True, FIN | ACK)
        self.seq[True] += 1
        self._emit(ts + rtt / 2, False, FIN | ACK)
        self.seq[False] += 1
        self._emit(ts + rtt, True, ACK)
        return ts + rtt

    def reset(self, ts: float, from_client: bool) -> None:
        self._emit(ts, from_client, RST | ACK)


# ---------------------------------------------------------------------------- SSH
def ssh_packet(payload: bytes, block: int = 8) -> bytes:
    padding = block - ((len(payload) + 5) % block)
    if padding < 4:
        padding += block
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + b"\x00" * padding


def name_list(names: list[str]) -> bytes:
    text = ",".join(names).encode()
    return struct.pack(">I", len(text)) + text


CLIENT_ALGS = {
    "kex": ["curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ext-info-c"],
    "host_key": ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"],
    "enc": ["chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-gcm@openssh.com"],
    "mac": ["umac-64-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "hmac-sha2-256"],
    "comp": ["none", "zlib@openssh.com"],
}
SERVER_ALGS = {
    "kex": ["curve25519-sha256", "curve25519-sha256@libssh.org", "diffie-hellman-group14-sha256"],
    "host_key": ["rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519"],
    "enc": ["chacha20-poly1305@openssh.com", "aes256-ctr"],
    "mac": ["umac-64-etm@openssh.com", "hmac-sha2-256"],
    "comp": ["none", "zlib@openssh.com"],
}


def kexinit(algs: dict[str, list[str]], cookie: bytes = b"\x11" * 16) -> bytes:
    body = bytes([20]) + cookie
    body += name_list(algs["kex"]) + name_list(algs["host_key"])
    body += name_list(algs["enc"]) * 2 + name_list(algs["mac"]) * 2 + name_list(algs["comp"]) * 2
    body += name_list([]) * 2 + b"\x00" + b"\x00\x00\x00\x00"
    return ssh_packet(body)


def ssh_handshake(conv: TcpConversation, ts: float, client_is_tcp_client: bool = True,
                  client_banner: bytes = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",
                  server_banner: bytes = b"SSH-2.0-OpenSSH_8.9p1\r\n",
                  client_algs: dict | None = None, server_algs: dict | None = None) -> float:
    """Banners, KEXINITs, ECDH init/reply and NEWKEYS. ``client_is_tcp_client=False`` makes the
    TCP responder the SSH client (a reverse shell)."""
    c = client_is_tcp_client  # the "from_client" flag of the SSH client's packets
    t = conv.send(ts, not c, server_banner)
    t = conv.send(t + 0.002, c, client_banner)
    t = conv.send(t + 0.002, c, kexinit(client_algs or CLIENT_ALGS, b"\x22" * 16))
    t = conv.send(t + 0.002, not c, kexinit(server_algs or SERVER_ALGS))
    t = conv.send(t + 0.002, c, ssh_packet(bytes([30]) + struct.pack(">I", 32) + b"\x33" * 32))
    t = conv.send(t + 0.01, not c, ssh_packet(bytes([31]) + b"\x44" * 300) + ssh_packet(bytes([21])))
    t = conv.send(t + 0.002, c, ssh_packet(bytes([21])))
    return t


def opaque(n: int, rng: random.Random) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def ssh_interactive(conv: TcpConversation, ts: float, keystrokes: int, typist_is_client: bool, rng: random.Random,
                    size: int = 36, think: float = 0.25) -> float:
    """Keystrokes from the typist's side, each echoed by the other side at once and acked."""
    t = ts
    for _ in range(keystrokes):
        t += think + rng.random() * 0.2
        conv.send(t, typist_is_client, opaque(size, rng))
        conv.send(t + 0.004, not typist_is_client, opaque(size, rng))
        conv.ack(t + 0.045, typist_is_client)
    t += 0.3
    conv.send(t, typist_is_client, opaque(size, rng))  # Enter
    conv.send(t + 0.01, not typist_is_client, opaque(400, rng))  # command output
    conv.ack(t + 0.05, typist_is_client)
    return t + 0.05


def ssh_auth(conv: TcpConversation, ts: float, rng: random.Random, client: bool = True) -> float:
    t = ts
    for size_c, size_s in ((52, 52), (68, 500), (620, 36), (112, 40), (96, 380)):
        conv.send(t, client, opaque(size_c, rng))
        t += 0.01
        conv.send(t, not client, opaque(size_s, rng))
        t += 0.01
    return t


# ---------------------------------------------------------------------------- JSON-RPC
def jline(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def monero_wallet(seed: int = 7) -> str:
    """A string in the shape of a standard Monero address (95 base58 characters starting with 4)."""
    rng = random.Random(seed)
    return "4" + "".join(rng.choice(BASE58) for _ in range(94))


WALLET = monero_wallet()
