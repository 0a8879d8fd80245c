"""Firewall and flow-log ingest at scale, against named baselines measured in the same run.

Generates N netfilter LOG lines (kern.log with RFC 3164 stamps: ufw blocks, sandbox egress
allows, monitoring accepts, OUTPUT lines without MAC= and with two LEN=, ICMP errors quoting a
packet, IPv6, other kernel messages) and N AWS VPC flow records, then measures, each in its own
process (so peak RSS is that measurement's own):

- ``duckdb_bare_scan``: DuckDB reading the file as lines (``read_csv`` one VARCHAR column) and
  touching every line: the practical ceiling of anything that reads the file;
- ``duckdb_regexp_per_field``: DuckDB ``regexp_extract`` once per field (no table written);
- ``python_regex_loop``: a straightforward Python loop applying one regular expression per line
  and keeping the groups (the baseline a typical script would use; nothing written);
- ``our_reader``: the netfilter reader alone (lines to Arrow batches; nothing written);
- ``our_ingest``: ``Case.ingest`` end to end: hashing, sniffing, parsing, direction, and writing
  ``net_events`` into a case file (what a responder waits for).

For flow logs: ``duckdb_bare_scan``, ``duckdb_read_csv`` (the fields as typed columns by DuckDB's CSV
reader, nothing written), ``python_split_loop``, ``duckdb_csv_insert`` (those typed columns written
into ``net_events`` of a case and nothing else: the write floor) and ``our_ingest`` (``aws_vpcflow``).
Ratios are printed for wall time and for CPU time (steadier on a shared machine).

    .venv/bin/python benchmarks/bench_firewall.py --lines 2000000 --lines 10000000 --flows 2000000

Files go to benchmarks/data/ (git-ignored) and are deleted afterwards unless ``--keep``; results
are printed as Markdown and written to benchmarks/out/bench_firewall.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
OUT = HERE / "out"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ------------------------------------------------------------------------------------------------
# Generators
# ------------------------------------------------------------------------------------------------

def generate_netfilter(path: Path, n: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    externals = [f"203.0.113.{i}" for i in range(256)] + [f"198.51.100.{i}" for i in range(256)]
    sandboxes = [f"10.244.{node}.{h}" for node in range(1, 5) for h in range(10, 42)]
    nodes = [f"10.20.1.{h}" for h in range(11, 15)]
    macs = "00:16:3e:0a:14:0d:ee:ff:ff:ff:ff:ff:08:00"
    start = 1771286400  # 2026-02-17 00:00 UTC
    out = []
    with open(path, "w") as handle:
        for i in range(n):
            t = start + i * 86400 * 20 // max(n, 1)  # spread over twenty days
            tm = time.gmtime(t + 8 * 3600)
            stamp = f"{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
            up = f"[{(t - start + 3000):6d}.{rnd.randrange(1000000):06d}]"
            node = nodes[i % 4]
            host = f"gpu-node-0{i % 4 + 1}"
            r = rnd.random()
            ident = rnd.randrange(65536)
            sport = rnd.randrange(32768, 61000)
            if r < 0.40:
                line = (f"{stamp} {host} kernel: {up} [UFW BLOCK] IN=eth0 OUT= MAC={macs} SRC={rnd.choice(externals)} "
                        f"DST={node} LEN=60 TOS=0x00 PREC=0x00 TTL=50 ID={ident} DF PROTO=TCP SPT={sport} "
                        f"DPT={rnd.choice((22, 22, 23, 3389, 445))} WINDOW=64240 RES=0x00 SYN URGP=0 ")
            elif r < 0.70:
                line = (f"{stamp} {host} kernel: {up} [SBX-EGRESS-ALLOW] IN=cni0 OUT=eth0 MAC={macs} "
                        f"SRC={rnd.choice(sandboxes)} DST={rnd.choice(externals)} LEN=60 TOS=0x00 PREC=0x00 TTL=63 "
                        f"ID={ident} DF PROTO=TCP SPT={sport} DPT={rnd.choice((443, 443, 80, 22, 3333))} "
                        f"WINDOW=64240 RES=0x00 SYN URGP=0 ")
            elif r < 0.85:
                line = (f"{stamp} {host} kernel: {up} ACCEPT-NEW-IN: IN=eth0 OUT= MAC={macs} SRC=10.20.0.5 "
                        f"DST={node} LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID={ident} DF PROTO=TCP SPT={sport} "
                        f"DPT={rnd.choice((22, 80, 443, 9100, 9400))} WINDOW=64240 RES=0x00 SYN URGP=0 ")
            elif r < 0.90:
                line = (f"{stamp} {host} kernel: {up} [HOST-EGRESS] IN= OUT=eth0 SRC={node} DST=192.0.2.123 LEN=76 "
                        f"TOS=0x00 PREC=0x00 TTL=64 ID={ident} DF PROTO=UDP SPT={sport} DPT=123 LEN=56 UID=0 GID=0 ")
            elif r < 0.93:
                line = (f"{stamp} {host} kernel: {up} [HOST-ICMP-OUT] IN= OUT=eth0 SRC={node} DST=10.20.0.5 LEN=88 "
                        f"TOS=0x00 PREC=0xC0 TTL=64 ID={ident} PROTO=ICMP TYPE=3 CODE=3 [SRC=10.20.0.5 DST={node} "
                        f"LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=0 DF PROTO=UDP SPT=161 DPT={sport} LEN=40 ] ")
            elif r < 0.96:
                line = (f"{stamp} {host} kernel: {up} ip6-drop: IN=eth0 OUT= MAC={macs} "
                        f"SRC=2001:0db8:0000:0000:0000:0000:0000:{rnd.randrange(65536):04x} "
                        f"DST=fd00:0000:0000:0000:0000:0000:0000:0013 LEN=80 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=TCP "
                        f"SPT={sport} DPT=22 WINDOW=28800 RES=0x00 SYN URGP=0 ")
            else:
                line = f"{stamp} {host} kernel: {up} cni0: port {rnd.randrange(64)}(veth{ident:08x}) entered forwarding state"
            out.append(line)
            if len(out) >= 100_000:
                handle.write("\n".join(out) + "\n")
                out = []
        if out:
            handle.write("\n".join(out) + "\n")


def generate_vpcflow(path: Path, n: int, seed: int = 2) -> None:
    rnd = random.Random(seed)
    start = 1771286400
    out = ["version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status"]
    with open(path, "w") as handle:
        for i in range(n):
            t = start + i * 86400 * 20 // max(n, 1)
            r = rnd.random()
            if r < 0.01:
                out.append(f"2 123456789010 eni-0a1b2c3d4e5f{i % 16:x} - - - - - - - {t} {t + 60} - NODATA")
                continue
            src = f"10.20.{rnd.randrange(4)}.{rnd.randrange(256)}"
            dst = f"{rnd.choice(('203.0.113', '198.51.100', '10.20.1'))}.{rnd.randrange(256)}"
            if r < 0.4:
                src, dst = dst, src
            out.append(f"2 123456789010 eni-0a1b2c3d4e5f{i % 16:x} {src} {dst} {rnd.randrange(1024, 65535)} "
                       f"{rnd.choice((22, 443, 80, 3333, 53))} {rnd.choice((6, 6, 17))} {rnd.randrange(1, 200)} "
                       f"{rnd.randrange(40, 200000)} {t} {t + 60} {rnd.choice(('ACCEPT', 'ACCEPT', 'REJECT'))} OK")
            if len(out) >= 100_000:
                handle.write("\n".join(out) + "\n")
                out = []
        if out:
            handle.write("\n".join(out) + "\n")


# ------------------------------------------------------------------------------------------------
# Measurements (each runs in a child process)
# ------------------------------------------------------------------------------------------------

NETFILTER_REGEX = (r"^(\w{3} +\d+ [\d:]+) (\S+) kernel: (?:\[\s*[\d.]+\] )?(.*?)IN=(\S*) OUT=(\S*) .*?SRC=(\S+) "
                   r"DST=(\S+) LEN=(\d+) .*?PROTO=(\w+)(?: SPT=(\d+) DPT=(\d+))?")
FIELDS = {"src": r" SRC=(\S+)", "dst": r" DST=(\S+)", "len": r" LEN=(\d+)", "proto": r" PROTO=(\w+)",
          "spt": r" SPT=(\d+)", "dpt": r" DPT=(\d+)", "in": r"IN=(\S*)", "out": r" OUT=(\S*)",
          "stamp": r"^(\w{3} +\d+ [\d:]+)", "host": r"^\w{3} +\d+ [\d:]+ (\S+)"}
VPC_FIELDS = ("version", "account_id", "interface_id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
              "packets", "bytes", "start", "end", "action", "log_status")
VPC_NUMBERS = ("srcport", "dstport", "protocol", "packets", "bytes", "start", "end")
LINES = "read_csv({path}, columns={{'line': 'VARCHAR'}}, delim='\\x01', quote='', escape='', header=false, " \
        "auto_detect=false, strict_mode=false)"


def measure(kind: str, path: str) -> dict:
    import duckdb

    started, cpu0 = time.time(), time.process_time()
    detail = {}
    quoted = "'" + path.replace("'", "''") + "'"
    if kind == "duckdb_bare_scan":
        con = duckdb.connect()
        detail["rows"], detail["bytes"] = con.execute(
            f"SELECT count(*), sum(strlen(line)) FROM {LINES.format(path=quoted)}").fetchone()
    elif kind == "duckdb_regexp_per_field":
        con = duckdb.connect()
        parts = ", ".join(f"count(regexp_extract(line, '{rx}', 1)) AS \"{name}\"" for name, rx in FIELDS.items())
        detail["rows"] = con.execute(f"SELECT count(*), {parts} FROM {LINES.format(path=quoted)}").fetchone()[0]
    elif kind == "python_regex_loop":
        import re

        rx = re.compile(NETFILTER_REGEX)
        kept, batch = 0, []
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                m = rx.search(line)
                if m:
                    batch.append(m.groups())
                if len(batch) >= 100_000:  # a script would write them out; we drop them
                    kept += len(batch)
                    batch = []
        detail["rows"] = kept + len(batch)
    elif kind in ("duckdb_read_csv", "duckdb_csv_insert"):
        # the flow log as typed columns by DuckDB's CSV reader: the read ceiling for this format,
        # and the same read written into net_events with nothing else (the write floor)
        types = dict.fromkeys(VPC_FIELDS, "VARCHAR") | {f: "BIGINT" for f in VPC_NUMBERS}
        columns = "{" + ", ".join(f"'{k}': '{v}'" for k, v in types.items()) + "}"
        csv = (f"read_csv({quoted}, columns={columns}, delim=' ', quote='', escape='', header=false, "
               "auto_detect=false, skip=1, nullstr='-', strict_mode=false, null_padding=true)")
        if kind == "duckdb_read_csv":
            con = duckdb.connect()
            detail["rows"] = con.execute(f"SELECT count(*), sum(bytes), count(srcaddr) FROM {csv}").fetchone()[0]
        else:
            sys.path.insert(0, str(HERE.parent))
            from forensics import Case

            with tempfile.TemporaryDirectory(dir=str(DATA)) as tmp:
                with Case(os.path.join(tmp, "case.duckdb"), tmp_dir=tmp, memory_limit="512MB") as case:
                    detail["rows"] = case.con.execute(
                        "INSERT INTO net_events BY NAME SELECT to_timestamp(start) AS ts, to_timestamp(\"end\") AS ts_end, "
                        "srcaddr AS src_ip, srcport AS src_port, dstaddr AS dst_ip, dstport AS dst_port, "
                        "protocol::VARCHAR AS proto, action, bytes AS bytes_out, packets AS packets_out, "
                        f"1 AS evidence_id FROM {csv}").fetchone()[0]
    elif kind == "python_split_loop":
        kept, batch = 0, []
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 14 and fields[0].isdigit():
                    batch.append((fields[3], fields[4], int(fields[5]) if fields[5] != "-" else None,
                                  int(fields[6]) if fields[6] != "-" else None, int(fields[10]), fields[12]))
                if len(batch) >= 100_000:
                    kept += len(batch)
                    batch = []
        detail["rows"] = kept + len(batch)
    elif kind == "our_reader":
        sys.path.insert(0, str(HERE.parent))
        from forensics.firewall.netfilter import NetfilterReader, TimeContext, iter_line_blocks

        reader = NetfilterReader(TimeContext("Asia/Shanghai", 2026))
        rows = slow = 0
        with open(path, "rb") as handle:
            for block, first, _ in iter_line_blocks(handle, 16 << 20):
                result = reader.read_block(block, first)
                rows += result.table.num_rows
                slow += result.n_slow
        detail.update(rows=rows, slow_path_lines=slow)
    elif kind in ("our_ingest", "our_ingest_vpcflow"):
        sys.path.insert(0, str(HERE.parent))
        from forensics import Case

        with tempfile.TemporaryDirectory(dir=str(DATA)) as tmp:
            limit = os.environ.get("BENCH_MEMORY_LIMIT") or None
            with Case(os.path.join(tmp, "case.duckdb"), tmp_dir=tmp, memory_limit=limit) as case:
                summary = case.ingest([path], year=2026, timezone="Asia/Shanghai")
                detail["rows"] = summary.records
                detail["warnings"] = summary.warnings
                detail["case_bytes"] = os.path.getsize(os.path.join(tmp, "case.duckdb"))
    else:
        raise SystemExit(f"unknown measurement {kind}")
    wall = time.time() - started
    cpu = time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"kind": kind, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": usage.ru_maxrss / 1024, **detail}


def run_child(kind: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--measure", kind, "--file", str(path)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(rows: list[dict]) -> str:
    lines = ["| input | lines | measurement | wall s | lines/s | CPU s | lines/s per CPU s | peak RSS MB |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['input']} | {r['lines']:,} | {r['kind']} | {r['wall_s']:.1f} | "
                     f"{r['lines'] / r['wall_s']:,.0f} | {r['cpu_s']:.1f} | {r['lines'] / r['cpu_s']:,.0f} | "
                     f"{r['peak_rss_mb']:,.0f} |")
    return "\n".join(lines)


def ratios(rows: list[dict]) -> str:
    out = []
    by = {(r["input"], r["lines"], r["kind"]): r for r in rows}
    for (name, n, kind), r in by.items():
        if kind not in ("our_ingest", "our_reader", "our_ingest_vpcflow"):
            continue
        ours = n / r["wall_s"]
        parts = []
        for base in ("duckdb_bare_scan", "python_regex_loop", "python_split_loop", "duckdb_regexp_per_field",
                     "duckdb_read_csv", "duckdb_csv_insert"):
            b = by.get((name, n, base))
            if b:
                parts.append(f"{ours / (n / b['wall_s']):.2f}x {base}")
        out.append(f"- {name} {n:,} lines, {kind}: " + ", ".join(parts))
        cpu_parts = []
        for base in ("duckdb_bare_scan", "python_regex_loop", "python_split_loop", "duckdb_read_csv",
                     "duckdb_csv_insert"):
            b = by.get((name, n, base))
            if b:
                cpu_parts.append(f"{b['cpu_s'] / r['cpu_s']:.2f}x {base}")
        out.append("  per CPU second: " + ", ".join(cpu_parts))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, action="append", help="netfilter lines (repeatable)")
    parser.add_argument("--flows", type=int, action="append", help="VPC flow records (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit of the case in the ingest runs (e.g. 1GB)")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.file)))
        return
    DATA.mkdir(exist_ok=True)
    OUT.mkdir(exist_ok=True)
    if args.memory_limit:
        os.environ["BENCH_MEMORY_LIMIT"] = args.memory_limit
    results = []
    for n in args.lines or [2_000_000]:
        path = DATA / f"netfilter-{n}.log"
        if not path.exists():
            t = time.time()
            generate_netfilter(path, n)
            print(f"generated {path.name}: {path.stat().st_size / 1e6:,.0f} MB in {time.time() - t:.0f} s", flush=True)
        for kind in ("duckdb_bare_scan", "duckdb_regexp_per_field", "python_regex_loop", "our_reader", "our_ingest"):
            r = run_child(kind, path)
            r.update(input="netfilter kern.log", lines=n, file_mb=path.stat().st_size / 1e6)
            results.append(r)
            print(json.dumps(r), flush=True)
        if not args.keep:
            path.unlink()
    for n in args.flows or []:
        path = DATA / f"vpcflow-{n}.log"
        if not path.exists():
            generate_vpcflow(path, n)
        for kind in ("duckdb_bare_scan", "duckdb_read_csv", "python_split_loop", "duckdb_csv_insert",
                     "our_ingest_vpcflow"):
            r = run_child(kind, path)
            r.update(input="AWS VPC flow log", lines=n, file_mb=path.stat().st_size / 1e6)
            results.append(r)
            print(json.dumps(r), flush=True)
        if not args.keep:
            path.unlink()
    (OUT / "bench_firewall.json").write_text(json.dumps(results, indent=1))
    print()
    print(report(results))
    print()
    print(ratios(results))


if __name__ == "__main__":
    main()
