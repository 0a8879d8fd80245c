"""Host-audit scale benchmark: N million raw audit records (auditd with execve, connect and file
watch rules on four interleaved nodes, user-space PAM records in between) ingested with
``--format auditd`` into a fresh case, against the named baseline measured in the same run:
DuckDB's bare line scan of the same file (``read_csv`` of one VARCHAR column, count and total
length), the floor any line-oriented parser in DuckDB pays.

    .venv/bin/python benchmarks/bench_host.py 10000000 [--memory-limit 4GB] [--keep]

Each measurement runs in its own process so its peak RSS is its own. Data goes to
benchmarks/data/ (git-ignored) and is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
NODES = ["gpu-node-01", "gpu-node-02", "gpu-node-03", "gpu-node-04"]
PROGRAMS = [
    (["python", "-m", "pytest", "-q", "tests/test_{n}.py"], "/usr/local/bin/python3.11"),
    (["git", "diff", "--stat"], "/usr/bin/git"),
    (["sed", "-i", "s/old {n}/new {n}/", "src/app.py"], "/usr/bin/sed"),  # an argument with spaces: hex
    (["nvidia-smi", "--query-gpu=index,utilization.gpu", "--format=csv"], "/usr/bin/nvidia-smi"),
    (["bash", "-c", "cd /workspace && make test {n}"], "/usr/bin/bash"),
    (["curl", "-s", "https://pypi.example.org/simple/pkg{n}/"], "/usr/bin/curl"),
    (["cat", "src/module_{n}.py"], "/usr/bin/cat"),
]


def _val(s: str) -> str:
    if any(c in s for c in ' "') or any(ord(c) < 0x21 or ord(c) > 0x7E for c in s):
        return s.encode().hex().upper()
    return f'"{s}"'


def generate(path: Path, n_records: int, seed: int = 17) -> dict:
    rng = random.Random(seed)
    t = 1771290000.0
    serial = {node: 1000 for node in NODES}
    pid = {node: 30000 for node in NODES}
    written = 0
    counts = {"execve": 0, "connect": 0, "openat": 0, "user": 0}
    buf: list[str] = []
    with open(path, "w") as out:
        while written < n_records:
            node = NODES[rng.randrange(4)]
            serial[node] += 1
            t += rng.random() * 0.004
            stamp = f"{int(t)}.{int((t % 1) * 1000):03d}:{serial[node]}"
            head = f"node={node} type="
            tail = f" msg=audit({stamp}): "
            roll = rng.random()
            pid[node] += 1
            p = pid[node]
            if roll < 0.40:
                argv_t, exe = PROGRAMS[rng.randrange(len(PROGRAMS))]
                argv = [a.format(n=rng.randint(1, 99)) for a in argv_t]
                counts["execve"] += 1
                args = " ".join(f"a{i}={_val(a)}" for i, a in enumerate(argv))
                title = "\0".join(argv).encode()[:128].hex().upper()
                buf += [
                    f"{head}SYSCALL{tail}arch=c000003e syscall=59 success=yes exit=0 a0=55d0c2a5e2a0 a1=55d0c2a5e310 "
                    f"a2=55d0c2a5e330 a3=8 items=2 ppid={p - rng.randint(1, 50)} pid={p} auid=4294967295 uid=1000 "
                    f"gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) "
                    f'ses=4294967295 comm="{exe.rsplit("/", 1)[-1][:15]}" exe="{exe}" subj=unconfined key="exec"',
                    f"{head}EXECVE{tail}argc={len(argv)} {args}",
                    f'{head}CWD{tail}cwd="/workspace/repo"',
                    f'{head}PATH{tail}item=0 name="{exe}" inode=393231 dev=08:01 mode=0100755 ouid=0 ogid=0 '
                    "rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
                    f'{head}PATH{tail}item=1 name="/lib64/ld-linux-x86-64.so.2" inode=393220 dev=08:01 '
                    "mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 "
                    "cap_frootid=0",
                    f"{head}PROCTITLE{tail}proctitle={title}",
                    f"{head}EOE{tail}",
                ]
            elif roll < 0.65:
                counts["connect"] += 1
                ip = f"10.20.{rng.randint(0, 3)}.{rng.randint(1, 254)}" if rng.random() < 0.7 else \
                    f"203.0.113.{rng.randint(1, 254)}"
                port = rng.choice([22, 80, 443, 3333, 6379, 8080])
                saddr = "0200" + f"{port:04X}" + "".join(f"{int(x):02X}" for x in ip.split(".")) + "0" * 16
                code, ok = rng.choice([(0, "yes"), (-111, "no"), (-115, "no")])
                buf += [
                    f"{head}SYSCALL{tail}arch=c000003e syscall=42 success={ok} exit={code} a0=3 a1=7ffd5a3c1e50 "
                    f"a2=10 a3=0 items=0 ppid={p - 7} pid={p - 3} auid=4294967295 uid=1000 gid=1000 euid=1000 "
                    "suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=4294967295 "
                    'comm="curl" exe="/usr/bin/curl" subj=unconfined key="net"',
                    f"{head}SOCKADDR{tail}saddr={saddr}",
                    f"{head}PROCTITLE{tail}proctitle=6375726C002D73",
                    f"{head}EOE{tail}",
                ]
            elif roll < 0.85:
                counts["openat"] += 1
                buf += [
                    f"{head}SYSCALL{tail}arch=c000003e syscall=257 success=yes exit=3 a0=ffffff9c a1=7f3c2a1b2c30 "
                    f"a2=80000 a3=0 items=1 ppid=1 pid={p - 11} auid=4294967295 uid=0 gid=0 euid=0 suid=0 fsuid=0 "
                    'egid=0 sgid=0 fsgid=0 tty=(none) ses=4294967295 comm="sshd" exe="/usr/sbin/sshd" '
                    'subj=unconfined key="sshd_config"',
                    f'{head}CWD{tail}cwd="/"',
                    f'{head}PATH{tail}item=0 name="/etc/ssh/sshd_config" inode=1311 dev=08:01 mode=0100644 '
                    "ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
                    f"{head}PROCTITLE{tail}proctitle=2F7573722F7362696E2F73736864002D44",
                    f"{head}EOE{tail}",
                ]
            else:
                counts["user"] += 1
                buf.append(f"{head}USER_ACCT{tail}pid={p} uid=0 auid=4294967295 ses=4294967295 "
                           "subj=unconfined msg='op=PAM:accounting grantors=pam_unix acct=\"root\" "
                           "exe=\"/usr/sbin/cron\" hostname=? addr=? terminal=cron res=success'")
            if len(buf) >= 50_000:
                written += len(buf)
                out.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            written += len(buf)
            out.write("\n".join(buf) + "\n")
    counts["records"] = written
    return counts


def _child(kind: str, path: str, workdir: str, memory_limit: str) -> None:
    """One measurement in this process: prints a JSON line with seconds, rows and peak RSS."""
    import resource

    sys.path.insert(0, str(ROOT))
    import duckdb

    start = time.perf_counter()
    if kind == "scan":
        con = duckdb.connect(config={"memory_limit": memory_limit})
        from forensics.host.lines import read_lines_sql
        rows = con.execute(f"SELECT count(*), sum(length(line)) FROM {read_lines_sql(path)}").fetchone()[0]
        result = {"rows": rows}
    else:
        from forensics import Case
        with Case(os.path.join(workdir, "bench.duckdb"), memory_limit=memory_limit, tmp_dir=workdir) as case:
            summary = case.ingest([path], format="auditd", host="gpu-node-01")
            counts = dict(case.con.execute(
                "SELECT 'processes', count(*) FROM processes UNION ALL SELECT 'process_sockets', count(*) "
                "FROM process_sockets UNION ALL SELECT 'warnings', count(*) FROM parse_warnings").fetchall())
            result = {"rows": summary.records, **counts}
    result["seconds"] = time.perf_counter() - start
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run(kind: str, path: Path, workdir: Path, memory_limit: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path), str(workdir), memory_limit],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("records", nargs="*", type=int, default=[10_000_000])
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "PATH", "WORKDIR", "MEMORY"))
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    DATA.mkdir(parents=True, exist_ok=True)
    for n in args.records:
        path = DATA / f"audit_{n}.log"
        start = time.perf_counter()
        counts = generate(path, n)
        gen_s = time.perf_counter() - start
        size = path.stat().st_size
        workdir = DATA / f"host_bench_{n}"
        workdir.mkdir(exist_ok=True)
        try:
            scan = _run("scan", path, workdir, args.memory_limit)
            ours = _run("ingest", path, workdir, args.memory_limit)
        finally:
            for f in workdir.glob("*"):
                f.unlink()
            workdir.rmdir()
            if not args.keep:
                path.unlink()
        print(json.dumps({"records": counts["records"], "events": {k: v for k, v in counts.items() if k != "records"},
                          "file_mib": round(size / 2**20), "generate_s": round(gen_s, 1),
                          "scan_s": round(scan["seconds"], 2), "scan_rss_mib": round(scan["peak_rss_mib"]),
                          "ingest_s": round(ours["seconds"], 2), "ingest_rss_mib": round(ours["peak_rss_mib"]),
                          "ratio": round(ours["seconds"] / scan["seconds"], 1),
                          "records_per_s": round(counts["records"] / ours["seconds"]),
                          "processes": ours.get("processes"), "process_sockets": ours.get("process_sockets"),
                          "warnings": ours.get("warnings")}))


if __name__ == "__main__":
    main()
