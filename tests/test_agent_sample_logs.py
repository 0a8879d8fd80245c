"""The shared sample incident (sample_logs/): its RL rollouts and inventory, ingested into a fresh
case, give the indicators and findings its ground truth names, for the malicious trajectory, for the
one the firewall dropped, and for none of the benign ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forensics import Case

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
TRUTH = SAMPLE / "ground_truth.json"

pytestmark = pytest.mark.skipif(not TRUTH.exists() or not (SAMPLE / "trajectories").is_dir(),
                                reason="sample_logs/ not generated")


@pytest.fixture(scope="module")
def truth():
    return json.loads(TRUTH.read_text())


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    case = Case(tmp_path_factory.mktemp("sample") / "case.duckdb")
    summary = case.ingest([str(SAMPLE / "trajectories"), str(SAMPLE / "inventory.yaml")])
    case.detect()
    yield case, summary
    case.close()


def _step(truth, label):
    return next(s for s in truth["malicious_trajectories"][0]["steps"] if s["label"] == label)


def _actions(case, trajectory, step):
    return {(r.category, r.technique, r.indicator_kind, r.indicator_value) for r in case.sql(
        "SELECT * FROM agent_actions WHERE trajectory_id = ? AND step = ?", [trajectory, step]).itertuples()}


def test_every_rollout_file_loads_without_warnings(case):
    case, summary = case
    rollouts = [o for o in summary.outcomes if "rollouts-" in o.path]
    assert len(rollouts) == 6 and {o.parser for o in rollouts} == {"openai_chat"}
    assert {o.status for o in rollouts} == {"parsed"} and sum(o.n_warnings for o in rollouts) == 0


def test_malicious_trajectory_steps_are_where_and_when_the_ground_truth_says(case, truth):
    case, _ = case
    mal = truth["malicious_trajectories"][0]
    steps = case.sql("SELECT step, command, ts, host, sandbox, sandbox_ip, exit_code FROM agent_steps "
                     "WHERE trajectory_id = ? AND action = 'exec' ORDER BY step", [mal["trajectory_id"]])
    assert list(steps.command) == [s["command"] for s in mal["steps"]]
    assert list(steps.exit_code) == [s["exit_code"] for s in mal["steps"]]
    assert [t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in steps.ts] == [s["ts"] for s in mal["steps"]]
    assert set(steps.host) == {mal["host"]} and set(steps.sandbox) == {mal["sandbox_id"]}
    assert set(steps.sandbox_ip) == {mal["sandbox_ip"]}


def test_the_probe_names_the_scanned_range_and_ports(case, truth):
    case, _ = case
    probe = truth["probe"]
    actions = _actions(case, probe["trajectory_id"], probe["step"])
    assert ("scan", "dev_tcp_probe", "ip_range", probe["range"]) in actions
    assert {int(v) for c, t, k, v in actions if k == "port"} == set(probe["ports"])


def test_the_tunnel_names_its_endpoint_and_the_reverse_forward(case, truth):
    case, _ = case
    tunnel = _step(truth, "tunnel")
    actions = _actions(case, "traj-000317", tunnel["step"])
    assert ("tunnel", "ssh_reverse_forward", "ip", truth["tunnel"]["endpoint"]["ip"]) in actions
    assert ("tunnel", "ssh_reverse_forward", "forward", "-R 2222:localhost:22") in actions
    assert ("tunnel", "ssh_reverse_forward", "port", "2222") in actions


def test_the_miner_step_names_pool_wallet_binary_and_gpus(case, truth):
    case, _ = case
    mining = truth["mining"]
    actions = _actions(case, mining["trajectory_id"], mining["step"])
    pool = f"{mining['scheme']}://{mining['pool_host']}:{mining['pool_port']}"
    assert ("mining", "pool_url", "url", pool) in actions
    assert ("mining", "pool_url", "host", mining["pool_host"]) in actions
    assert ("mining", "wallet", "wallet", mining["wallet"]) in actions
    assert ("mining", "miner_binary", "binary", Path(mining["binary"]).name) in actions
    assert ("mining", "miner_flags", "flag", "--cuda-devices=6,7") in actions
    wallet = case.sql("SELECT detail FROM agent_actions WHERE indicator_kind = 'wallet'")
    assert list(wallet.detail) == ["coin=monero"]
    # the download one step earlier fetched the miner
    download = _actions(case, mining["trajectory_id"], _step(truth, "download")["step"])
    assert ("mining", "miner_download", "binary", "xmrig") in download


def test_agent_findings_name_the_malicious_and_the_blocked_trajectory(case, truth):
    case, _ = case
    findings = case.sql("SELECT kind, host, src_ip, dst_ip, dst_port, summary, details FROM findings "
                        "WHERE kind LIKE 'agent_%' ORDER BY kind, summary")
    by_kind: dict[str, list[str]] = {}
    for f in findings.itertuples():
        by_kind.setdefault(f.kind, []).append(f.summary)
    tunnel_step = _step(truth, "tunnel")["step"]
    assert by_kind["agent_tunnel"] == [
        f"trajectory traj-000317 step {tunnel_step} on gpu-node-03: ssh_reverse_forward "
        "(forward=-R 2222:localhost:22, ip=203.0.113.50, port=2222)",
        f"trajectory traj-000842 step {truth['blocked_attempt']['attempts'][0]['step']} on gpu-node-01: "
        "ssh_reverse_forward (forward=-R 2222:localhost:22, ip=203.0.113.50, port=2222)"]
    tunnels = findings[findings.kind == "agent_tunnel"]
    assert set(tunnels.dst_ip) == {"203.0.113.50"} and set(tunnels.dst_port) == {22}
    assert set(tunnels.src_ip) == {truth["malicious_trajectories"][0]["sandbox_ip"],
                                   truth["blocked_attempt"]["sandbox_ip"]}
    assert by_kind["agent_scan"] == [f"trajectory traj-000317 step {truth['probe']['step']} on gpu-node-03: "
                                     "dev_tcp_probe (ip_range=10.20.1.1-10.20.1.40, port=22, port=443, port=6379, "
                                     "port=80, port=8080)"]
    mining = [s for s in by_kind["agent_mining"] if f"step {truth['mining']['step']} " in s]
    assert len(mining) == 1 and mining[0].startswith("trajectory traj-000317 step 14 on gpu-node-03: miner_binary")
    assert mining[0].endswith(" on GPUs 6,7")
    blocked_download = truth["blocked_attempt"]["attempts"][1]["step"]
    assert any(s.startswith(f"trajectory traj-000842 step {blocked_download} on gpu-node-01: miner_download")
               for s in by_kind["agent_mining"])
    named = {json.loads(d)["trajectory_id"] for d in findings.details}
    assert named == set(truth["trajectories_to_exclude"])


def test_no_benign_trajectory_has_tunnel_or_mining_indicators(case, truth):
    case, _ = case
    bad = set(truth["trajectories_to_exclude"])
    flagged = case.sql("SELECT DISTINCT trajectory_id, category FROM agent_actions "
                       "WHERE category IN ('tunnel', 'mining', 'scan', 'download_exec')")
    assert set(flagged.trajectory_id) == bad
    benign = case.sql("SELECT count(DISTINCT trajectory_id) AS n FROM agent_steps WHERE trajectory_id NOT IN "
                      "(SELECT unnest(?::VARCHAR[]))", [sorted(bad)]).n[0]
    assert benign == truth["generator"]["trajectories"] - len(bad)


def test_git_clone_over_ssh_is_not_a_tunnel(case, truth):
    case, _ = case
    git = next(d for d in truth["decoys"] if d["kind"] == "git_over_ssh")
    steps = case.sql("SELECT locator FROM agent_steps WHERE trajectory_id = ? AND command = ?",
                     [git["trajectory_id"], git["command"]])
    assert len(steps) == 1
    assert case.sql("SELECT count(*) AS n FROM agent_actions WHERE trajectory_id = ?", [git["trajectory_id"]]).n[0] == 0


def test_sandbox_ip_leases_follow_the_reuse_of_the_address(case, truth):
    case, _ = case
    reuse = truth["sandbox_ip_reuse"]
    leases = case.sql("SELECT sandbox, host, valid_from, valid_to FROM host_addresses WHERE ip = ? "
                      "AND source = 'openai_chat' ORDER BY valid_from", [reuse["ip"]])
    assert list(leases.sandbox) == [reuse["first"]["sandbox_id"], reuse["later"]["sandbox_id"]]
    assert set(leases.host) == {"gpu-node-03"}
    assert leases.valid_to[0] <= leases.valid_from[1]
