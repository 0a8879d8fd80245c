"""GPU telemetry scale benchmark: 1,000 GPUs sampled every 15 s for 24 h (5.76 million samples per
metric), as dcgm-exporter range-query JSON (one export per metric: GPU_UTIL, POWER_USAGE, FB_USED,
PIPE_TENSOR_ACTIVE) and as nvidia-smi ``--query-gpu`` CSV (units in the values, local time
stamps), once as one file per 8-GPU node and once as one file for the whole cluster. Each is ingested into a fresh case and compared with the named
baseline measured in the same run: DuckDB's bare ``read_json`` / ``read_csv`` of the same files
into a table (no normalisation, no GPU identity, no locators).

    .venv/bin/python benchmarks/bench_gpu.py                    # full scale
    .venv/bin/python benchmarks/bench_gpu.py --gpus 100         # a tenth

Data goes to benchmarks/data/gpu/ (git-ignored) and is deleted afterwards unless --keep. Every
measurement runs in its own process so its peak RSS is its own. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

T0 = 1771286400  # 2026-02-17T00:00:00Z
METRICS = (("DCGM_FI_DEV_GPU_UTIL", lambda g, i: str((i * 7 + g) % 101)),
           ("DCGM_FI_DEV_POWER_USAGE", lambda g, i: f"{300 + (i * 13 + g) % 400}.{(i + g) % 1000:03d}"),
           ("DCGM_FI_DEV_FB_USED", lambda g, i: str(70000 + (i + 3 * g) % 4000)),
           ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", lambda g, i: f"0.{(i * 31 + g) % 1000:03d}"))
MEMORY_LIMIT = "3GB"
THREADS = 2


def gpu_labels(g: int) -> dict:
    node = g // 8
    return {"gpu": str(g % 8), "UUID": f"GPU-{g:08x}-4b7e-9c1a-0000-{node:012x}",
            "pci_bus_id": f"00000000:{0x18 + 16 * (g % 8):02X}:00.0", "device": f"nvidia{g % 8}",
            "modelName": "NVIDIA H100 80GB HBM3", "Hostname": f"gpu-node-{node:03d}",
            "DCGM_FI_DRIVER_VERSION": "550.144.03", "instance": f"10.20.{node // 200}.{node % 200 + 10}:9400",
            "job": "dcgm-exporter", "hpc_job": "rl-run-0217"}


def write_range(folder: Path, gpus: int, points: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for name, value in METRICS:
        with open(folder / f"{name}.json", "w") as out:
            out.write('{"status":"success","data":{"resultType":"matrix","result":[')
            for g in range(gpus):
                if g:
                    out.write(",")
                metric = {"__name__": name, **gpu_labels(g)}
                out.write('{"metric":' + json.dumps(metric, separators=(",", ":")) + ',"values":[')
                out.write(",".join(f'[{T0 + 15 * i},"{value(g, i)}"]' for i in range(points)))
                out.write("]}")
            out.write("]}}")
    return gpus * points * len(METRICS)


def write_csv_single(folder: Path, gpus: int, points: int) -> int:
    """All nodes' rows in one file (a cluster-wide collection), to show the parser without the
    per-file costs (hashing, one transaction and commit per evidence file)."""
    write_csv(folder, gpus, points)
    parts = sorted(folder.glob("gpu-node-*.csv"))
    with open(folder / "all-nodes.csv", "w") as out:
        for number, part in enumerate(parts):
            with open(part) as handle:
                if number:
                    handle.readline()
                shutil.copyfileobj(handle, out)
            part.unlink()
    return gpus * points


def write_csv(folder: Path, gpus: int, points: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    header = ("timestamp, index, uuid, pci.bus_id, utilization.gpu [%], utilization.memory [%], memory.used [MiB], "
              "memory.total [MiB], power.draw [W], temperature.gpu, clocks.sm [MHz], pstate\n")
    for node in range((gpus + 7) // 8):
        members = [g for g in range(node * 8, min(gpus, node * 8 + 8))]
        labels = [gpu_labels(g) for g in members]
        with open(folder / f"gpu-node-{node:03d}.csv", "w") as out:
            out.write(header)
            for i in range(points):
                t = time.gmtime(T0 + 15 * i + 8 * 3600)  # local time (Asia/Shanghai), no zone
                stamp = time.strftime("%Y/%m/%d %H:%M:%S", t) + f".{(i * 37) % 1000:03d}"
                out.write("".join(
                    f"{stamp}, {g % 8}, {lab['UUID']}, {lab['pci_bus_id']}, {(i * 7 + g) % 101} %, {(i + g) % 60} %, "
                    f"{70000 + (i + 3 * g) % 4000} MiB, 81559 MiB, {300 + (i * 13 + g) % 400}.{(i + g) % 100:02d} W, "
                    f"{40 + (i + g) % 30}, {1400 + (i + g) % 580} MHz, P0\n" for g, lab in zip(members, labels)))
    return gpus * points


# --------------------------------------------------------------------------- measurements (child processes)

def measure(kind: str, folder: str, workdir: str) -> dict:
    import resource

    import duckdb

    started = time.perf_counter()
    if kind == "ours":
        from forensics import Case

        with Case(os.path.join(workdir, "case.duckdb"), memory_limit=MEMORY_LIMIT, threads=THREADS,
                  tmp_dir=workdir) as case:
            summary = case.ingest([folder], timezone="Asia/Shanghai")
            failed = [o.message for o in summary.outcomes if o.status != "parsed"]
            rows = {t: case.con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
                    for t in ("gpu_samples", "gpu_processes")}
            values = case.con.execute(
                "SELECT count(util) + count(power_w) + count(fb_used_mib) + count(tensor_active) FROM gpu_samples"
            ).fetchall()[0][0]
        result = {"rows": rows, "values": values, "failed": failed}
    else:
        con = duckdb.connect(os.path.join(workdir, "baseline.duckdb"),
                             config={"memory_limit": MEMORY_LIMIT, "threads": THREADS})
        if kind == "read_json":
            # One export is one JSON document: the reader needs it whole (the largest file, plus
            # slack), one file at a time so that two documents never share the memory limit.
            largest = max(p.stat().st_size for p in Path(folder).glob("*.json")) + 1024
            for number, path in enumerate(sorted(Path(folder).glob("*.json"))):
                select = f"""SELECT r.metric, unnest(r."values") AS v
                             FROM (SELECT unnest(data.result) AS r
                                   FROM read_json('{path}', maximum_object_size={largest}))"""
                con.execute(f"CREATE TABLE t AS {select}" if number == 0 else f"INSERT INTO t {select}")
        else:
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{folder}/*.csv')")
        result = {"rows": {"t": con.execute("SELECT count(*) FROM t").fetchall()[0][0]}}
        con.close()
    result["seconds"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    return result


def run_child(kind: str, folder: Path, workdir: Path) -> dict:
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    out = subprocess.run([sys.executable, __file__, "--measure", kind, str(folder), str(workdir)],
                         capture_output=True, text=True, check=False)
    shutil.rmtree(workdir, ignore_errors=True)
    if out.returncode != 0:
        raise SystemExit(f"{kind} on {folder} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=1000)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=int, default=15)
    parser.add_argument("--only", choices=("range", "csv"), default=None)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--measure", nargs=3, metavar=("KIND", "FOLDER", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(*args.measure)))
        return
    points = int(args.hours * 3600 // args.interval)
    data = ROOT / "benchmarks" / "data" / "gpu"
    rows = []
    try:
        for fmt, writer, baseline in (("range", write_range, "read_json"), ("csv", write_csv, "read_csv"),
                                      ("csv-one-file", write_csv_single, "read_csv")):
            if args.only and not fmt.startswith(args.only):
                continue
            folder = data / fmt
            shutil.rmtree(folder, ignore_errors=True)
            started = time.perf_counter()
            samples = writer(folder, args.gpus, points)
            generated = time.perf_counter() - started
            base = run_child(baseline, folder, data / "work")
            ours = run_child("ours", folder, data / "work")
            if ours["failed"]:
                raise SystemExit(f"files failed: {ours['failed']}")
            rows.append({"format": fmt, "files": len(list(folder.iterdir())), "mib": size_of(folder) / 2 ** 20,
                         "samples": samples, "generated_s": generated, "baseline": baseline, "base": base,
                         "ours": ours})
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(data / "work", ignore_errors=True)
    print(f"{args.gpus} GPUs x {points} samples ({args.interval} s for {args.hours:g} h), DuckDB memory_limit "
          f"{MEMORY_LIMIT}, {THREADS} threads\n")
    print("| input | files | size | values | baseline | baseline wall (CPU) | ours wall (CPU) "
          "| throughput ratio, wall (CPU) | peak RSS baseline | peak RSS ours |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        b, o = r["base"], r["ours"]
        print(f"| {r['format']} | {r['files']} | {r['mib']:.0f} MiB | {r['samples']:,} | `{r['baseline']}` | "
              f"{b['seconds']:.1f} s ({b['cpu_seconds']:.1f} s) | {o['seconds']:.1f} s ({o['cpu_seconds']:.1f} s), "
              f"{r['samples'] / o['seconds'] / 1e6:.2f} M values/s | {b['seconds'] / o['seconds']:.2f} "
              f"({b['cpu_seconds'] / o['cpu_seconds']:.2f}) | "
              f"{b['peak_rss_mib'] / 1024:.2f} GiB | {o['peak_rss_mib'] / 1024:.2f} GiB |")
    print()
    print(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
