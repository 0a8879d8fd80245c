"""Packet-capture ingest speed and memory, against bare tshark and a plain pyshark loop.

Generates a capture mixing the incident's traffic (TLS to a package index, DNS, HTTP downloads,
interactive SSH, git over SSH, a reverse tunnel with keystrokes, an XMRig stratum session, a
failed-connection fan-out), then measures in the same run:

* ours: ``Case.ingest`` of the capture into a fresh case (tshark -T fields pass per chunk,
  DuckDB staging, reassembly of SSH/JSON-RPC streams, every table written);
* ceiling: bare ``tshark`` with our field list and options, output to /dev/null;
* baseline: a plain ``pyshark.FileCapture`` loop reading the same few fields per packet, on a
  prefix of ``--pyshark-packets`` packets, extrapolated to the whole capture.

Peak memory is the summed RSS of our process and its children (tshark, editcap), sampled every
0.1 s. ``--big-gb N`` also builds a bulk-heavy capture of about N GB and reports the ingest's time
and peak memory on it (the chunked path).

    .venv/bin/python benchmarks/bench_pcap.py --packets 1000000 --big-gb 2
"""

from __future__ import annotations

import argparse
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from pcap_synth import (Capture, TcpConversation, jline, opaque, ssh_auth, ssh_handshake,  # noqa: E402
                        ssh_interactive, WALLET)

BASE = 1771290000.0


# ---------------------------------------------------------------------------- generation
def _tls(cap: Capture, rng: random.Random, t: float, n: int) -> None:
    from test_pcap_mining import client_hello

    conv = TcpConversation(cap, (f"10.20.1.{11 + n % 4}", 30000 + n % 30000), ("192.0.2.10", 443))
    t = conv.handshake(t)
    conv.send(t + 0.001, True, client_hello("pypi.example.org"))
    t = conv.send(t + 0.02, False, b"\x16\x03\x03\x00\x7a" + opaque(122, rng) + b"\x17\x03\x03" + opaque(1200, rng))
    for _ in range(rng.randint(3, 12)):
        t = conv.send(t + 0.005, False, b"\x17\x03\x03" + opaque(1445, rng))
        conv.ack(t + 0.001, True)
    conv.close(t + 0.01)


def _dns(cap: Capture, rng: random.Random, t: float, n: int) -> None:
    from test_pcap_mining import dns_message

    name = rng.choice(["pypi.example.org", "files.example.org", "git.example.com", "api.example.net"])
    port = 40000 + n % 20000
    cap.udp(t, "10.20.1.13", port, "10.20.0.2", 53, dns_message(n & 0xFFFF, name))
    cap.udp(t + 0.002, "10.20.0.2", 53, "10.20.1.13", port, dns_message(n & 0xFFFF, name, "192.0.2.10"))


def _http(cap: Capture, rng: random.Random, t: float, n: int) -> None:
    conv = TcpConversation(cap, ("10.20.1.13", 20000 + n % 20000), ("203.0.113.80", 80))
    t = conv.handshake(t)
    conv.send(t + 0.001, True, b"GET /files/%d.tgz HTTP/1.1\r\nHost: dl.example.net\r\nUser-Agent: curl/8.5.0\r\n\r\n" % n)
    body = opaque(rng.randint(2000, 40000), rng)
    t = conv.send(t + 0.02, False, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    conv.ack(t + 0.001, True)
    conv.close(t + 0.01)


def _ssh_forward(cap: Capture, rng: random.Random, t: float, n: int) -> None:
    conv = TcpConversation(cap, ("10.20.0.5", 50000 + n % 10000), (f"10.20.1.{11 + n % 4}", 22))
    t = conv.handshake(t)
    t = ssh_handshake(conv, t + 0.01)
    t = ssh_auth(conv, t + 0.05, rng)
    t = ssh_interactive(conv, t + 0.5, keystrokes=rng.randint(10, 40), typist_is_client=True, rng=rng)
    conv.close(t + 0.2)


def _git(cap: Capture, rng: random.Random, t: float, n: int, segments: int = 80) -> None:
    conv = TcpConversation(cap, ("10.20.1.13", 52000 + n % 10000), ("192.0.2.40", 22))
    t = conv.handshake(t)
    t = ssh_handshake(conv, t + 0.01)
    t = ssh_auth(conv, t + 0.05, rng)
    conv.send(t + 0.01, True, opaque(180, rng))
    for _ in range(segments):
        t = conv.send(t + 0.0005, False, opaque(2896, rng), gap=0.0001)
        conv.ack(t, True)
    conv.close(t + 0.01)


def _scan(cap: Capture, rng: random.Random, t: float, n: int) -> None:
    for i in range(1, 41):
        conv = TcpConversation(cap, ("10.20.1.13", 41000 + (n * 40 + i) % 20000), (f"10.20.1.{i}", 22))
        conv._emit(t + i * 0.3, True, 0x02)


class Tunnel:
    """One long reverse tunnel and one stratum session, advanced a little in every batch."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.tunnel: TcpConversation | None = None
        self.pool: TcpConversation | None = None
        self.submit_id = 2

    def step(self, cap: Capture, t: float) -> None:
        rng = self.rng
        if self.tunnel is None:
            self.tunnel = TcpConversation(cap, ("10.20.1.13", 43218), ("203.0.113.50", 22))
            s = self.tunnel.handshake(t)
            s = ssh_handshake(self.tunnel, s + 0.01)
            ssh_auth(self.tunnel, s + 0.05, rng)
            self.pool = TcpConversation(cap, ("10.20.1.13", 44512), ("198.51.100.77", 3333))
            s = self.pool.handshake(t + 1)
            self.pool.send(s + 0.01, True, jline({"id": 1, "jsonrpc": "2.0", "method": "login", "params": {
                "login": WALLET, "pass": "rig317", "agent": "XMRig/6.21.0", "algo": ["rx/0"]}}))
            self.pool.send(s + 0.2, False, jline({"id": 1, "jsonrpc": "2.0", "error": None, "result": {
                "status": "OK", "job": {"job_id": "1", "blob": "07" * 38, "target": "cf8b0000", "algo": "rx/0"}}}))
            return
        self.tunnel.cap = cap
        self.pool.cap = cap
        if rng.random() < 0.3:
            self.tunnel.send(t, False, opaque(1436, rng))
            self.tunnel.send(t + 0.05, True, opaque(1316, rng))
            ssh_interactive(self.tunnel, t + 1, keystrokes=20, typist_is_client=False, rng=rng, size=76)
        else:
            self.tunnel.send(t, True, opaque(52, rng))
            self.tunnel.send(t + 0.05, False, opaque(28, rng))
        for k in range(3):
            i = self.submit_id
            self.submit_id += 1
            self.pool.send(t + k, True, jline({"id": i, "jsonrpc": "2.0", "method": "submit", "params": {
                "id": "s", "job_id": "1", "nonce": f"{i:08x}", "result": "ab" * 32}}))
            reply = ({"id": i, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}} if i % 50
                     else {"id": i, "jsonrpc": "2.0", "error": {"code": -1, "message": "Low difficulty share"}})
            self.pool.send(t + k + 0.1, False, jline(reply))


def generate(path: Path, packets: int, seed: int = 20260217, bulk: bool = False) -> dict:
    """Write about ``packets`` packets, in batches of overlapping sessions sorted by time."""
    rng = random.Random(seed)
    kinds = ([(_git, 8)] if bulk else
             [(_tls, 30), (_dns, 25), (_http, 10), (_ssh_forward, 6), (_git, 2), (_scan, 1)])
    weights = [w for _, w in kinds]
    long_lived = Tunnel(rng)
    written = 0
    t = BASE
    n = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        while written < packets:
            cap = Capture()
            long_lived.step(cap, t)
            for _ in range(200):
                builder = rng.choices([k for k, _ in kinds], weights)[0]
                builder(cap, rng, t + rng.random() * 10, n)
                n += 1
            for ts, data in sorted(cap.frames, key=lambda f: f[0]):
                sec = int(ts)
                usec = min(int(round((ts - sec) * 1e6)), 999_999)
                out.write(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)
            written += len(cap.frames)
            t += 10
    return {"packets": written, "bytes": path.stat().st_size}


# ---------------------------------------------------------------------------- measuring
class PeakRss:
    """Summed RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss(root: int) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
                ppid, pages = int(fields[1]), int(fields[21])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
            rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE")
        total, stack = 0, [root]
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack.extend(children.get(pid, []))
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def measure_ours(capture: Path, workdir: Path, options: dict | None = None) -> dict:
    from forensics import Case

    case_path = workdir / "bench.duckdb"
    for suffix in ("", ".wal"):
        Path(str(case_path) + suffix).unlink(missing_ok=True)
    with PeakRss() as rss:
        start = time.perf_counter()
        with Case(case_path, tmp_dir=str(workdir)) as case:
            case.ingest([str(capture)], options=options)
            elapsed = time.perf_counter() - start
            counts = {t: int(case.sql(f"SELECT count(*) AS n FROM {t}").n[0])
                      for t in ("flows", "ssh_sessions", "dns", "tls", "http", "jsonrpc_msgs", "parse_warnings")}
            case.detect(names=["ssh_reverse_tunnel", "mining_stratum"])
            findings = case.sql("SELECT kind, count(*) AS n FROM findings GROUP BY kind").values.tolist()
    return {"seconds": elapsed, "peak_rss": rss.peak, "rows": counts, "findings": findings}


def measure_tshark(capture: Path) -> dict:
    from forensics.pcap.tshark import find_tools, tshark_command

    tools = find_tools()
    with PeakRss() as rss:
        start = time.perf_counter()
        subprocess.run(tshark_command(tools, capture), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "peak_rss": rss.peak, "version": tools.version()}


def measure_pyshark(capture: Path, workdir: Path, packets: int) -> dict:
    """A typical script: iterate packets, read addresses, ports and lengths."""
    from forensics.pcap.tshark import find_tools

    prefix = workdir / "prefix.pcap"
    tools = find_tools()
    subprocess.run([tools.editcap, "-r", str(capture), str(prefix), f"1-{packets}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import pyshark

    start = time.perf_counter()
    seen = 0
    capture_obj = pyshark.FileCapture(str(prefix), keep_packets=False)
    rows = []
    for packet in capture_obj:
        seen += 1
        if "IP" in packet:
            layer = packet.transport_layer
            rows.append((packet.sniff_timestamp, packet.ip.src, packet.ip.dst,
                         getattr(packet[layer], "srcport", None) if layer else None,
                         getattr(packet[layer], "dstport", None) if layer else None, packet.length))
    capture_obj.close()
    elapsed = time.perf_counter() - start
    return {"seconds": elapsed, "packets": seen}


def _count_packets(path: Path) -> int:
    """Records in a classic pcap (headers only)."""
    count, pos = 0, 24
    with open(path, "rb") as fh:
        size = path.stat().st_size
        while pos + 16 <= size:
            fh.seek(pos + 8)
            (caplen,) = struct.unpack("<I", fh.read(4))
            pos += 16 + caplen
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--pyshark-packets", type=int, default=20_000)
    parser.add_argument("--big-gb", type=float, default=0.0, help="also measure a bulk capture of about N GB")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated captures")
    parser.add_argument("--reuse", action="store_true",
                        help="use captures already in --workdir (same generator, same seed: same bytes)")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-pcap-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {"cpus": os.cpu_count()}

    mixed = workdir / "mixed.pcap"
    start = time.perf_counter()
    if args.reuse and mixed.exists():
        results["mixed"] = {"packets": _count_packets(mixed), "bytes": mixed.stat().st_size, "reused": True}
    else:
        results["mixed"] = generate(mixed, args.packets)
    results["mixed"]["generate_s"] = time.perf_counter() - start
    print("generated", results["mixed"], flush=True)
    results["tshark"] = measure_tshark(mixed)
    print("bare tshark", results["tshark"], flush=True)
    results["ours"] = measure_ours(mixed, workdir)
    print("ours", results["ours"], flush=True)
    results["pyshark"] = measure_pyshark(mixed, workdir, args.pyshark_packets)
    print("pyshark", results["pyshark"], flush=True)
    n = results["mixed"]["packets"]
    pyshark_pps = results["pyshark"]["packets"] / results["pyshark"]["seconds"]
    results["summary"] = {
        "ours_pps": n / results["ours"]["seconds"],
        "tshark_pps": n / results["tshark"]["seconds"],
        "pyshark_pps": pyshark_pps,
        "pyshark_extrapolated_s": n / pyshark_pps,
        "vs_pyshark": (n / pyshark_pps) / results["ours"]["seconds"],
        "vs_tshark": results["tshark"]["seconds"] / results["ours"]["seconds"],
    }
    if args.big_gb:
        big = workdir / "bulk.pcap"
        start = time.perf_counter()
        if args.reuse and big.exists() and big.stat().st_size >= args.big_gb * (1 << 30) * 0.95:
            results["bulk"] = {"packets": _count_packets(big), "bytes": big.stat().st_size, "reused": True}
        else:
            results["bulk"] = generate(big, int(args.big_gb * (1 << 30) / 940), seed=7, bulk=True)
        results["bulk"]["generate_s"] = time.perf_counter() - start
        print("generated bulk", results["bulk"], flush=True)
        results["bulk_ours"] = measure_ours(big, workdir)
        print("bulk ours", results["bulk_ours"], flush=True)
        if not args.keep:
            big.unlink(missing_ok=True)
    if not args.keep:
        mixed.unlink(missing_ok=True)
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
