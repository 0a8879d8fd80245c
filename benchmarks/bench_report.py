"""Report and export scale benchmark on a synthetic case, against named baselines measured in the
same run.

The case (built directly in the tables with SQL, no parsing): N/2 firewall records (net_events,
all on the timeline), N/2 GPU samples (4 hosts x 8 GPUs, with GPUs 6-7 of gpu-node-03 jumping to
100 % at the miner's launch), N/20 agent steps, 1,000 findings (a tunnel and a mining session on
gpu-node-03 among them) and N/200 parse warnings.

Measured, each in its own process so that its peak RSS is its own:

* ``report``: ``case.report()`` (md, html, json, manifest, figure); ``report-no-plot`` the same
  without the figure. Baseline ``report-pandas``: the same section queries, the same rows (each
  section's own row cap), rendered with pandas (``DataFrame.to_html`` and ``to_json``), no figure,
  no Markdown, no manifest and no escaping of control characters.
* ``timesketch``: ``case.export("timesketch")`` (DuckDB COPY to JSONL). Baseline
  ``timesketch-pandas``: the same query into a DataFrame, then ``to_json(orient="records", lines=True)``.
* ``parquet``: ``case.export("parquet")`` (DuckDB COPY, partitioned by day). Baseline
  ``parquet-pyarrow``: each table fetched as Arrow and written with ``pyarrow.dataset.write_dataset``
  partitioned the same way.
* ``plot``: ``case.plot_timeline()`` alone; ``iocs``: ``case.export("iocs")`` alone.

    .venv/bin/python benchmarks/bench_report.py 2000000 [--memory-limit 2GB] [--keep]
    .venv/bin/python benchmarks/bench_report.py --reuse --only plot      # on the case --keep left

Data goes to benchmarks/data/ (git-ignored) and is deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data" / "report"


def build_case(path: Path, n_events: int, memory_limit: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from forensics import Case

    n_fw = n_events // 2
    n_gpu_ticks = max(1, n_events // 2 // 32)
    n_steps = n_events // 20
    n_warn = n_events // 200
    span_s = 6 * 3600
    with Case(path, memory_limit=memory_limit) as case:
        con = case.con
        con.execute("""
            INSERT INTO evidence (evidence_id, path, size, sha256, format, parser, status, n_records, n_warnings,
                                  records_by_table)
            VALUES (1, 'fw/cloudfw.json', 1, repeat('1', 64), 'alibaba_cloudfw', 'alibaba_cloudfw', 'parsed', 0, 0,
                    '{"net_events": 1}'),
                   (2, 'gpu/dcgm.prom', 1, repeat('2', 64), 'dcgm_exporter', 'dcgm_exporter', 'parsed', 0, 0,
                    '{"gpu_samples": 1}'),
                   (3, 'traj/rollouts.jsonl', 1, repeat('3', 64), 'openai_chat', 'openai_chat', 'parsed', 0, 0,
                    '{"agent_steps": 1}')""")
        t0 = "TIMESTAMPTZ '2026-02-17 00:00:00+00'"
        con.execute(f"""
            INSERT INTO net_events (ts, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                                    bytes_out, bytes_in, rule, source_format, evidence_id, locator)
            SELECT {t0} + to_microseconds(CAST(i * {span_s * 1e6 / max(n_fw, 1)} AS BIGINT)),
                   'gpu-node-0' || (1 + i % 4), '10.20.1.' || (11 + i % 4), 30000 + i % 30000,
                   CASE WHEN i % 97 = 0 THEN '203.0.113.' || (i % 250) ELSE '10.20.' || (i % 7) || '.' || (i % 200) END,
                   [22, 80, 443, 6379, 8080][1 + i % 5], 'tcp',
                   CASE WHEN i % 97 = 0 THEN 'outbound' ELSE 'internal' END,
                   CASE WHEN i % 11 = 0 THEN 'deny' WHEN i % 5003 = 0 THEN 'alert' ELSE 'allow' END,
                   i % 9000, i % 70000, 'rule-' || (i % 13), 'alibaba_cloudfw', 1, 'line:' || (i + 1)
            FROM range({n_fw}) r(i)""")
        con.execute(f"""
            INSERT INTO gpu_samples (ts, host, gpu_uuid, gpu_index, index_kind, util, power_w, source_format,
                                     evidence_id, locator)
            SELECT {t0} + to_microseconds(CAST(t * {span_s * 1e6 / n_gpu_ticks} AS BIGINT)),
                   'gpu-node-0' || (1 + g // 8), 'GPU-0000000' || (g % 8) || '-0000-0000-0000-00000000000' || (g // 8),
                   g % 8, 'dcgm',
                   CASE WHEN g // 8 = 2 AND g % 8 >= 6 AND t >= {n_gpu_ticks // 3} THEN 100.0
                        WHEN t % 60 = 0 THEN 5.0 ELSE 80.0 + (t * 7 + g) % 15 END,
                   400 + (t + g) % 200, 'dcgm_exporter', 2, 'line:' || (t * 32 + g + 1)
            FROM range({n_gpu_ticks}) a(t), range(32) b(g)""")
        con.execute(f"""
            INSERT INTO agent_steps (source_format, run_id, trajectory_id, step, call_index, ts, ts_basis, sandbox,
                                     host, role, action, tool, command, exit_code, evidence_id, locator)
            SELECT 'openai_chat', 'rl-run-0217', 'traj-' || lpad(CAST(i // 24 AS VARCHAR), 6, '0'), 1 + i % 24, 0,
                   {t0} + to_microseconds(CAST(i * {span_s * 1e6 / max(n_steps, 1)} AS BIGINT)), 'absolute',
                   'sbx-' || (i // 24), 'gpu-node-0' || (1 + (i // 24) % 4), 'sandbox', 'exec', 'bash',
                   'python -m pytest -q tests/test_' || (i % 50) || '.py', 0, 3, 'line:' || (i + 1)
            FROM range({n_steps}) r(i)""")
        launch = f"{t0} + INTERVAL 2 HOUR"
        con.execute(f"""
            INSERT INTO agent_actions (run_id, trajectory_id, step, call_index, ts, host, category, technique,
                                       attack_id, indicator_kind, indicator_value, ip, evidence_id, locator)
            VALUES ('rl-run-0217', 'traj-000317', 12, 0, {launch} - INTERVAL 10 MINUTE, 'gpu-node-03', 'tunnel',
                    'ssh_reverse_forward', 'T1572', 'ip', '203.0.113.50', '203.0.113.50', 3, 'line:1'),
                   ('rl-run-0217', 'traj-000317', 14, 0, {launch}, 'gpu-node-03', 'mining', 'pool_url', 'T1496',
                    'url', 'stratum+tcp://xmr.pool.example.com:3333', NULL, 3, 'line:2')""")
        con.execute(f"""
            INSERT INTO findings (finding_id, detector, kind, title, severity, confidence, ts_start, ts_end, host,
                                  src_ip, dst_ip, dst_port, summary, attack_ids, evidence_refs)
            SELECT 'f' || i, 'detect/bench', CASE WHEN i = 0 THEN 'tunnel' WHEN i = 1 THEN 'mining'
                                                  ELSE ['probe', 'egress', 'bruteforce'][1 + i % 3] END,
                   'finding ' || i, CASE WHEN i < 2 THEN 'critical' ELSE ['low', 'medium', 'info'][1 + i % 3] END,
                   0.8, CASE WHEN i < 2 THEN {launch} - INTERVAL 9 MINUTE * (1 - i)
                             ELSE {t0} + to_microseconds(CAST(i * 21.6e6 AS BIGINT)) END,
                   CASE WHEN i < 2 THEN {launch} + INTERVAL 3 HOUR
                        ELSE {t0} + to_microseconds(CAST(i * 21.6e6 + 60e6 AS BIGINT)) END,
                   'gpu-node-0' || CASE WHEN i < 2 THEN 3 ELSE 1 + i % 4 END, '10.20.1.13',
                   '203.0.113.' || (i % 250), 22, 'synthetic finding ' || i, ['T1046'],
                   [{{'tbl': 'net_events', 'evidence_id': 1, 'locator': 'line:' || (i + 1)}}]
            FROM range(1000) r(i)""")
        con.execute(f"""
            INSERT INTO parse_warnings (evidence_id, locator, reason, excerpt, parser)
            SELECT 1, 'line:' || (i * 7 + 3), ['bad timestamp', 'not JSON', 'unknown action'][1 + i % 3],
                   '<script>alert(' || i || ')</script>', 'alibaba_cloudfw'
            FROM range({n_warn}) r(i)""")
        case.refresh_views()
        counts = {t: case.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("net_events", "gpu_samples", "agent_steps", "findings", "parse_warnings", "timeline")}
    return counts


CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, ROOT)
from forensics import Case
from forensics import queryfiles
case = Case(CASE, read_only=True, memory_limit=MEMORY_LIMIT)
start = time.perf_counter()
if WHAT in ("report", "report-no-plot"):
    result = case.report(OUT, plots=WHAT == "report")
    extra = {"sections": len(result.sections), "bytes": sum(p.stat().st_size for p in result.files.values())}
elif WHAT == "report-pandas":
    from forensics.report.sections import _max_rows
    total = 0
    for query in queryfiles.discover("report"):
        try:
            frame = case.con.execute(f"SELECT * FROM ({query.sql}) LIMIT {_max_rows(query, None)}",
                                     query.bind({})).df()
        except Exception:
            continue
        total += len(frame.to_html()) + len(frame.to_json(orient="records", date_format="iso"))
    extra = {"bytes": total}
elif WHAT == "timesketch":
    extra = case.export("timesketch", OUT + "/timeline.jsonl")
elif WHAT == "timesketch-pandas":
    sql = queryfiles.find("export/timesketch").sql
    frame = case.con.execute(sql).df()
    frame.to_json(OUT + "/timeline.jsonl", orient="records", lines=True, date_format="iso")
    extra = {"events": len(frame)}
elif WHAT == "parquet":
    summary = case.export("parquet", OUT + "/parquet")
    extra = {"tables": len(summary["tables"])}
elif WHAT == "parquet-pyarrow":
    import pyarrow.dataset as ds
    from forensics.report.export import _time_column
    tables = [r[0] for r in case.con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND (table_type = 'BASE TABLE' OR table_name = 'timeline') ORDER BY table_name").fetchall()]
    for name in tables:
        column = _time_column(case.con, name)
        if column:
            arrow = case.con.execute(f'SELECT *, coalesce(strftime("{column}", \'%Y-%m-%d\'), \'none\') AS day '
                                     f'FROM "{name}"').to_arrow_table()
            ds.write_dataset(arrow, OUT + "/parquet/" + name, format="parquet", partitioning=["day"],
                             partitioning_flavor="hive", existing_data_behavior="overwrite_or_ignore")
        else:
            ds.write_dataset(case.con.execute(f'SELECT * FROM "{name}"').to_arrow_table(), OUT + "/parquet/" + name,
                             format="parquet", existing_data_behavior="overwrite_or_ignore")
    extra = {"tables": len(tables)}
elif WHAT == "plot":
    figure = case.plot_timeline()
    extra = {"affected_gpus": figure.facts["affected_gpus"], "png_bytes": len(figure.png)}
elif WHAT == "iocs":
    extra = case.export("iocs", OUT + "/iocs")
    extra = {"indicators": extra["indicators"]}
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
print(json.dumps({"what": WHAT, "seconds": seconds, "peak_rss_gib": peak, "extra": extra},
                 default=str))
"""


MEASUREMENTS = ("report", "report-no-plot", "report-pandas", "timesketch", "timesketch-pandas", "parquet",
                "parquet-pyarrow", "plot", "iocs")


def measure(what: str, case: Path, out: Path, memory_limit: str) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    code = (f"ROOT = {str(ROOT)!r}\nCASE = {str(case)!r}\nOUT = {str(out)!r}\nWHAT = {what!r}\n"
            f"MEMORY_LIMIT = {memory_limit!r}\n" + CHILD)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{what} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", type=int, nargs="?", default=2_000_000)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="Measure on the case a --keep run left.")
    parser.add_argument("--only", action="append", help="Only these measurements (repeatable).")
    args = parser.parse_args()
    case = DATA / "case.duckdb"
    if not (args.reuse and case.exists()):
        if DATA.exists():
            shutil.rmtree(DATA)
        DATA.mkdir(parents=True)
        started = time.perf_counter()
        counts = build_case(case, args.events, args.memory_limit)
        print(f"case built in {time.perf_counter() - started:.1f} s: {counts}", flush=True)
    rows = []
    for what in args.only or MEASUREMENTS:
        if (DATA / what).exists():
            shutil.rmtree(DATA / what)
        result = measure(what, case, DATA / what, args.memory_limit)
        rows.append(result)
        print(f"{what:18s} {result['seconds']:8.2f} s  peak RSS {result['peak_rss_gib']:.2f} GiB  "
              f"{json.dumps(result['extra'], default=str)[:160]}", flush=True)
    by = {r["what"]: r for r in rows}
    for ours, base in (("report-no-plot", "report-pandas"), ("timesketch", "timesketch-pandas"),
                       ("parquet", "parquet-pyarrow")):
        if ours not in by or base not in by:
            continue
        print(f"{ours}: {by[base]['seconds'] / by[ours]['seconds']:.2f}x the speed of {base}, "
              f"{by[ours]['peak_rss_gib']:.2f} vs {by[base]['peak_rss_gib']:.2f} GiB peak RSS")
    if not args.keep:
        shutil.rmtree(DATA)


if __name__ == "__main__":
    main()
