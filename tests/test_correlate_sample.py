"""The sample incident end to end: every cause -> effect pair of sample_logs/ground_truth.json is
linked with its basis, no decoy is blamed on an agent step, gpu-node-03's clock comes out 4.2 s
slow, and the incident answers every question the way the ground truth does."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from forensics import Case, correlate
from forensics.cli import app

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs"
TRUTH_FILE = SAMPLE / "ground_truth.json"

pytestmark = pytest.mark.skipif(not TRUTH_FILE.is_file(), reason="sample_logs/ground_truth.json is not present")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads(TRUTH_FILE.read_text())


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    path = tmp_path_factory.mktemp("sample") / "case.duckdb"
    with Case(path) as opened:
        result = opened.investigate([str(SAMPLE)])
        opened.investigation = result  # what `forensics investigate` printed from
        yield opened


@pytest.fixture(scope="module")
def incident(case) -> dict:
    incidents = correlate.incident_records(case.con)
    assert len(incidents) == 1, [i["title"] for i in incidents]
    return incidents[0]


def _cloud_firewall_parsed(case) -> bool:
    return bool(case.con.execute(
        "SELECT count(*) FROM evidence WHERE path LIKE '%cloudfirewall%' AND status = 'parsed'").fetchone()[0])


# --------------------------------------------------------------------------------------------- skew

def test_gpu_node_03_clock_is_estimated_4_2_s_slow_and_the_others_exact(case, truth):
    offsets = case.skew()
    chosen = offsets[offsets["chosen"]].set_index("host")
    assert set(truth["clock_skew"]) <= set(offsets["host"])
    for host, skew in truth["clock_skew"].items():
        if host in chosen.index:
            assert abs(chosen.loc[host, "offset_s"] - skew) < 1.0, (host, chosen.loc[host, "offset_s"])
            assert chosen.loc[host, "n_pairs"] > 0
        else:
            assert skew == 0.0, f"{host} has no estimate but its clock is off"
    node3 = chosen.loc["gpu-node-03"]
    assert abs(node3["offset_s"] + 4.2) < 0.1
    assert node3["n_pairs"] >= 78  # at least the probe's SYNs, seen by kern.log and the capture
    assert "kernel log vs capture" in node3["method"]
    assert node3["spread_s"] < 1.0


def test_corrected_views_apply_the_offset_without_rewriting_stored_times(case):
    stored, corrected = case.con.execute(
        """SELECT ts, ts_corrected FROM net_events_corrected
           WHERE host = 'gpu-node-03' AND src_port = 43218 AND dst_ip = '203.0.113.50' AND source_format = 'netfilter'"""
    ).fetchone()
    # kern.log wrote 10:21:36 local for the SYN the capture saw at 02:21:40.436 UTC
    assert stored.isoformat().startswith("2026-02-17T02:21:36")
    assert abs(corrected.timestamp() - _ts("2026-02-17T02:21:40.436Z")) < 1.0


# --------------------------------------------------------------------------------------------- links

SOURCE_TABLES = {
    "kern.log": ("net_events",), "audit.log": ("processes", "process_sockets"), "egress.pcap": None,
    "cloudfirewall": ("net_events",), "falco.jsonl": ("falco_alerts",),
    "nvidia-smi-compute-apps.csv": ("gpu_processes",), "dcgm-exporter.prom.gz": ("gpu_samples",),
}
PCAP_TABLES = {"probe_syn": "flows", "ssh_session": "ssh_sessions", "dns_query": "dns", "http_get": "http",
               "stratum_login": "jsonrpc_msgs"}


def _links_for(case, pair: dict):
    """The links of the pair's cause step whose effect rows come from the pair's source file and
    show the pair's identifying fields."""
    cause, effect = pair["cause"], pair["effect"]
    source = effect["source"]
    if source.endswith("egress.pcap"):
        tables = (PCAP_TABLES[effect["kind"]],)
    else:
        tables = next(t for key, t in SOURCE_TABLES.items() if key in source)
    rows = case.sql(
        """SELECT l.link_id, l.effect_kind, l.effect_tbl, l.effect_count, l.delta_s, l.basis, l.basis_indicator,
                  l.basis_place, l.basis_time, l.weak, l.confidence, lr.tbl, lr.evidence_id, lr.locator,
                  lr.ts_corrected, e.path
           FROM links l JOIN link_rows lr USING (link_id) JOIN evidence e ON e.evidence_id = lr.evidence_id
           WHERE l.trajectory_id = ? AND l.step = ? AND l.effect_tbl <> 'findings'""",
        [cause["trajectory_id"], cause["step"]])
    rows = rows[rows["tbl"].isin(tables) & rows["path"].str.replace("\\", "/").str.endswith(source.split("/")[-1])]
    matching = []
    for link_id, group in rows.groupby("link_id"):
        if _rows_show(case, group, effect):
            matching.append(group.iloc[0])
    return matching


def _rows_show(case, group, effect) -> bool:
    tbl = group["tbl"].iloc[0]
    keys = list(zip(group["evidence_id"], group["locator"]))
    case.con.execute("CREATE OR REPLACE TEMP TABLE _keys (evidence_id INTEGER, locator VARCHAR)")
    case.con.executemany("INSERT INTO _keys VALUES (?, ?)", keys)
    frame = case.sql(f"SELECT t.* FROM {tbl} t SEMI JOIN _keys k USING (evidence_id, locator)")
    checks = []
    if "src_port" in effect and "src_port" in frame:
        checks.append(effect["src_port"] in set(frame["src_port"].dropna().astype(int)))
    if "src_port" in effect and "orig_p" in frame:
        checks.append(effect["src_port"] in set(frame["orig_p"].dropna().astype(int)))
    if "pid" in effect and "pid" in frame:
        checks.append(effect["pid"] in set(frame["pid"].dropna().astype(int)))
    if "query" in effect:
        checks.append(effect["query"] in set(frame["query"]))
    if "url" in effect and "uri" in frame:
        checks.append(any(effect["url"].endswith(u) for u in frame["uri"]))
    if "wallet" in effect and "wallet" in frame:
        checks.append(effect["wallet"] in set(frame["wallet"]))
    if "gpu_uuids" in effect:
        checks.append(set(effect["gpu_uuids"]) <= set(frame["gpu_uuid"].str.lower().str.replace("gpu-", "GPU-")))
    if "rule" in effect and "rule" in frame:
        checks.append(effect["rule"] in set(frame["rule"]))
    if "count" in effect and effect["kind"] in ("probe_syn", "probe_connect", "tcp_syn"):
        wanted = {"process_sockets": effect["count"]}.get(tbl, effect["count"])
        checks.append(len(frame) == wanted)
    if "records" in effect:
        checks.append(len(frame) == effect["records"])
    return bool(checks) and all(checks)


def _expected_basis(pair: dict) -> list[tuple[str, str]]:
    """(link column, text it must contain) for each basis the ground truth states."""
    effect = pair["effect"]
    wanted = []
    for basis in pair["basis"]:
        b = basis.lower()
        if "sandbox ip" in b:
            wanted.append(("basis_place", effect.get("src_ip") or "sandbox"))
        if "eip" in b:
            wanted.append(("basis_place", "public address"))
        if "snat" in b:
            wanted.append(("basis_place", "source NAT"))
        if "argv" in b:
            wanted.append(("basis_indicator", "argv"))
        if "process tree" in b or "descends from" in b:
            wanted.append(("basis_place", "process tree"))
        if "container" in b:
            wanted.append(("basis_place", "container"))
        if "destination in the command" in b or "destinations and ports match" in b:
            wanted.append(("basis_indicator", "named"))
        if "host name in the command" in b or "pool host in the command" in b:
            wanted.append(("basis_indicator", effect["query"]))
        if "url equals" in b:
            wanted.append(("basis_indicator", "equals the URL"))
        if "wallet" in b:
            wanted.append(("basis_indicator", "wallet"))
        if "resolved" in b:
            wanted.append(("basis_indicator", "resolved to"))
        if b.startswith("pid") or b == "pid":
            wanted.append(("basis_indicator", "pid"))
        if "cuda-devices" in b:
            wanted.append(("basis_indicator", "GPUs 6,7 are the devices the command selects"))
        if "by uuid" in b:
            wanted.append(("basis_indicator", "by UUID"))
    return wanted


def test_every_ground_truth_cause_effect_pair_is_linked_with_its_basis(case, truth):
    firewall = _cloud_firewall_parsed(case)
    checked = 0
    for pair in truth["causal_pairs"]:
        effect = pair["effect"]
        if "cloudfirewall" in effect["source"] and not firewall:
            continue
        found = _links_for(case, pair)
        label = f"{pair['cause']['trajectory_id']} step {pair['cause']['step']} -> {effect['kind']} in {effect['source']}"
        assert found, f"not linked: {label}"
        link = found[0]
        assert link["basis"] == "indicator" and not link["weak"], label
        assert link["confidence"] >= 0.8, label
        for column, text in _expected_basis(pair):
            assert text in (link[column] or ""), f"{label}: {column} {link[column]!r} lacks {text!r}"
        if "cloudfirewall" not in effect["source"]:
            # the first effect row, after clock correction, is where the ground truth puts it
            # (kern.log writes whole seconds, audit stamps a killed connect when it returns)
            true_delta = _ts(effect["ts"]) - _ts(pair["cause"]["ts"])
            assert abs(link["delta_s"] - true_delta) < 1.1, (label, link["delta_s"], true_delta)
        checked += 1
    assert checked >= 19


def test_the_probe_is_one_link_per_source_with_every_attempt(case):
    links = case.links(trajectory="traj-000317")
    probe = links[links["effect_kind"] == "probe"].set_index("effect_tbl")
    assert probe.loc["net_events", "effect_count"] == 200      # 80 [SBX-EGRESS-ALLOW] + 120 [SBX-EGRESS-DROP]
    assert probe.loc["flows", "effect_count"] == 78            # the SYNs that left the node
    assert probe.loc["process_sockets", "effect_count"] == 200  # one connect per attempt
    assert "10.20.1.1-10.20.1.40" in probe.loc["net_events", "basis_indicator"]


def test_no_decoy_is_linked_to_an_agent_step(case, truth):
    links = case.links()
    assert set(links["trajectory_id"]) == {"traj-000317", "traj-000842"}
    decoy_trajectories = {d.get("trajectory_id") for d in truth["decoys"] if d.get("trajectory_id")}
    decoy_trajectories |= {e["trajectory_id"] for d in truth["decoys"] for e in d.get("pinned_examples", [])}
    assert not decoy_trajectories & set(links["trajectory_id"])
    sources = case.sql(
        """SELECT DISTINCT coalesce(n.src_ip, f.orig_h) AS src, coalesce(n.dst_ip, f.resp_h) AS dst
           FROM link_rows r
           LEFT JOIN net_events n ON r.tbl = 'net_events' AND n.evidence_id = r.evidence_id AND n.locator = r.locator
           LEFT JOIN flows f ON r.tbl = 'flows' AND f.evidence_id = r.evidence_id AND f.locator = r.locator
           WHERE r.tbl IN ('net_events', 'flows')""")
    assert "203.0.113.200" not in set(sources["src"])   # the inbound brute force
    assert "10.20.0.5" not in set(sources["src"])       # monitor-01's sweeps
    assert not {"192.0.2.10", "192.0.2.40"} & set(sources["dst"])  # pip over TLS, git over SSH
    eval_gpus = {g["uuid"] for d in truth["decoys"] if d["kind"] == "evaluation_gpu_spike" for g in d["gpus"]}
    gpu_rows = case.sql(
        """SELECT DISTINCT s.gpu_uuid FROM link_rows r JOIN gpu_samples_resolved s
           ON r.tbl = 'gpu_samples' AND s.evidence_id = r.evidence_id AND s.locator = r.locator""")
    assert not eval_gpus & set(gpu_rows["gpu_uuid"])
    assert "gpu-node-04" not in set(links["effect_host"])


def test_the_invariants_hold_on_the_sample(case):
    assert correlate.check_invariants(case.con) == {
        name: 0 for name in correlate.check_invariants(case.con)}
    assert case.investigation["link"]["invariant_violations"] == {}


# --------------------------------------------------------------------------------------------- answers

def test_first_agent_action_is_step_8_of_traj_000317(incident, truth):
    first = incident["answers"]["first_agent_action"]
    expected = truth["first_agent_action"]
    assert (first["trajectory_id"], first["step"], first["command"]) == (
        expected["trajectory_id"], expected["step"], expected["command"])
    assert first["run_id"] == "rl-run-0217"
    assert abs(_ts(first["ts"]) - _ts(expected["ts"])) < 0.001
    network = first["first_network_action"]
    assert (network["trajectory_id"], network["step"]) == (
        truth["first_agent_network_action"]["trajectory_id"], truth["first_agent_network_action"]["step"])


def test_the_tunnel_answer_gives_endpoint_ports_start_duration_and_bytes(case, incident, truth):
    tunnels = {(t["trajectory_id"], t["step"]): t for t in incident["answers"]["tunnels"]}
    expected = truth["tunnel"]
    tunnel = tunnels[(expected["trajectory_id"], expected["step"])]
    assert tunnel["endpoint"] == {"ip": "203.0.113.50", "port": 22, "user": "tunnel"}
    assert tunnel["forwards"] == ["-R 2222:localhost:22"]
    assert tunnel["status"] == "established"
    assert abs(_ts(tunnel["start"]) - _ts(expected["start"])) < 0.001
    assert tunnel["capture"]["ip_bytes_out"] == expected["pcap"]["ip_bytes_client_to_server"]
    assert tunnel["capture"]["ip_bytes_in"] == expected["pcap"]["ip_bytes_server_to_client"]
    assert tunnel["capture"]["payload_bytes_out"] == expected["pcap"]["payload_bytes_client_to_server"]
    assert tunnel["capture"]["still_open_when_capture_ends"] is True
    assert tunnel["ssh"]["hassh"] == expected["hassh"]
    if _cloud_firewall_parsed(case):
        # the firewall saw the session to its end, long after the capture stopped
        assert abs(_ts(tunnel["end"]) - _ts(expected["end"])) < 1.0
        assert abs(tunnel["duration_s"] - (_ts(expected["end"]) - _ts(expected["start"]))) < 1.0
        assert tunnel["firewall"]["records"] == expected["whole_session"]["firewall_records"]
        assert tunnel["firewall"]["bytes_out"] == expected["whole_session"]["ip_bytes_out"]
        assert tunnel["firewall"]["bytes_in"] == expected["whole_session"]["ip_bytes_in"]
    blocked = tunnels[(truth["blocked_attempt"]["trajectory_id"], 6)]
    assert blocked["endpoint"]["ip"] == "203.0.113.50"
    assert blocked["status"] != "established"
    if _cloud_firewall_parsed(case):
        assert blocked["status"] == "blocked by the firewall"


def test_the_probe_answer_names_what_was_probed_and_what_answered(incident, truth):
    (probe,) = incident["answers"]["probes"]
    expected = truth["probe"]
    assert (probe["trajectory_id"], probe["step"]) == (expected["trajectory_id"], expected["step"])
    assert probe["ranges_named"] == [expected["range"]]
    assert probe["ports_named"] == expected["ports"]
    assert probe["targets_attempted"] == expected["attempts"]
    assert probe["answered"] == expected["answered"]
    assert probe["outcomes"] == {"open": expected["outcomes"]["open"], "refused": expected["outcomes"]["refused"],
                                 "dropped": expected["outcomes"]["drop"], "no_answer": expected["outcomes"]["timeout"]}
    assert probe["claimed_open_by_output"] == expected["answered"]


def test_the_mining_answer_gives_pool_coin_wallet_and_shares(incident, truth):
    (mining,) = incident["answers"]["mining"]
    expected = truth["mining"]
    assert mining["pool"]["url"] == f"{expected['scheme']}://{expected['pool_host']}:{expected['pool_port']}"
    assert mining["pool"]["addresses"] == [expected["pool_ip"]]
    assert mining["pool"]["session"] == f"{expected['pool_ip']}:{expected['pool_port']}"
    assert mining["coin"] == expected["coin"]
    assert mining["wallet"] == expected["wallet"]
    assert mining["password"] == expected["password"]
    shares = mining["shares"]
    assert (shares["submitted"], shares["accepted"], shares["rejected"]) == (
        expected["pcap"]["submitted"], expected["pcap"]["accepted"], expected["pcap"]["rejected"])
    assert expected["pid"] in mining["miner"]["pids"]


def test_the_shares_say_the_session_outlived_the_capture(case, incident, truth):
    if not _cloud_firewall_parsed(case):
        pytest.skip("the cloud firewall log is not parsed in this case")
    (mining,) = incident["answers"]["mining"]
    end = truth["mining"]["whole_session_simulated"]["end"]
    assert abs(_ts(mining["session_last_record"]) - _ts(end)) < 1.0
    assert mining["shares_note"].endswith("records of the connection go on until 2026-02-17 04:40:00 UTC")


def test_the_gpu_answer_gives_the_diverted_gpus_hours_and_cost(incident, truth):
    gpus = incident["answers"]["gpus"]
    expected = truth["gpu_diversion"]
    assert {g["gpu_uuid"] for g in gpus["diverted"]} == {g["uuid"] for g in expected["gpus"]}
    assert {g["gpu_index"] for g in gpus["diverted"]} == {g["index"] for g in expected["gpus"]}
    assert {g["pci_bus_id"] for g in gpus["diverted"]} == {g["pci_bus_id"] for g in expected["gpus"]}
    assert {(g["host"], g["job"], g["pid"]) for g in gpus["diverted"]} == {(expected["host"], expected["job"],
                                                                             expected["pid"])}
    # nvidia-smi samples once a minute: the last sighting bills at most one more interval
    assert abs(gpus["gpu_hours"] - expected["gpu_hours"]) / expected["gpu_hours"] < 0.02
    assert gpus["estimated_cost"] == pytest.approx(gpus["gpu_hours"] * gpus["gpu_hour_price"], abs=0.01)


def test_detection_latency_runs_from_the_first_agent_action_to_the_first_firewall_alert(case, incident, truth):
    latency = incident["answers"]["detection_latency"]
    assert latency["first_agent_action"].startswith("2026-02-17T02:13:05.12")
    if not _cloud_firewall_parsed(case):
        assert latency["latency_s"] is None and latency["note"]
        return
    alert = truth["first_firewall_alert"]
    assert abs(_ts(latency["first_firewall_alert"]["ts"]) - _ts(alert["ts"])) < 1.0
    assert latency["first_firewall_alert"]["label"] == alert["attack_type_name_en"]
    assert latency["latency_s"] == pytest.approx(_ts(alert["ts"]) - _ts(truth["first_agent_action"]["ts"]), abs=1.0)


def test_trajectories_to_exclude_are_the_two_that_tried(case, incident, truth):
    assert [e["trajectory_id"] for e in incident["answers"]["trajectories_to_exclude"]] == truth["trajectories_to_exclude"]
    assert case.exclusions()["trajectory_id"].tolist() == truth["trajectories_to_exclude"]
    assert incident["trajectories"] == truth["trajectories_to_exclude"]


def test_the_brute_force_is_unattributed_and_the_tunnel_sessions_are_tied_to_the_incident(case, incident, truth):
    unattributed = case.unattributed()
    assert all(r.startswith("not caused by any agent step in evidence") for r in unattributed["reason"])
    brute = unattributed[unattributed["src_ip"] == "203.0.113.200"]
    assert not brute.empty
    assert "outside the cluster" in brute["reason"].iloc[0]
    sessions = unattributed[unattributed["kind"] == "unexplained_process"]
    assert len(sessions) == len(truth["tunnel"]["interactive_sessions"])
    assert set(sessions["related_incident_id"]) == {incident["incident_id"]}
    assert sessions["reason"].str.contains("someone used what the agent opened").all()
    in_answer = incident["answers"]["unattributed"]
    assert any(u["src_ip"] == "203.0.113.200" for u in in_answer)
    # the osquery read of /etc/shadow is the host's own doing
    osquery = unattributed[unattributed["summary"].str.contains("osqueryd", na=False)]
    assert "outside any sandbox" in osquery["reason"].iloc[0]


def test_the_git_clone_is_explained_by_its_benign_step_not_blamed(case):
    benign = case.explained_benign()
    git = benign[benign["dst_ip"] == "192.0.2.40"]
    if git.empty:
        pytest.skip("no detection flags the git clone's connection in this case")
    assert set(git["trajectory_id"]) == {"traj-000120"} and set(git["step"]) == {5}
    assert not case.unattributed()["dst_ip"].eq("192.0.2.40").any()


# --------------------------------------------------------------------------------------------- surfaces

def test_investigate_prints_the_incident_answers_and_what_is_unattributed(case):
    from forensics.cli.render import incident_lines, unattributed_lines

    result = case.investigation
    text = "\n".join(incident_lines(result["incidents"][0]) + unattributed_lines(result["unattributed"]))
    for needed in ("First agent action: run rl-run-0217, traj-000317 step 8", "tunnel@203.0.113.50:22",
                   "answered: 10.20.1.11:22, 10.20.1.12:22, 10.20.1.13:22, 10.20.1.14:22, 10.20.1.20:6379",
                   "coin Monero", "GPUs diverted: 2", "Trajectories to exclude: traj-000317, traj-000842",
                   "not caused by any agent step in evidence"):
        assert needed in text


@pytest.fixture
def case_copy(tmp_path, case) -> str:
    """A copy of the sample case file (the module's connection keeps the original open)."""
    import shutil

    case.con.execute("CHECKPOINT")
    copy = tmp_path / "copy.duckdb"
    shutil.copy(case.path, copy)
    return str(copy)


def test_the_command_line_reads_the_correlation(case_copy):
    runner = CliRunner()
    path = case_copy
    excluded = runner.invoke(app, ["exclusions", "--case", path])
    assert excluded.exit_code == 0, excluded.output
    assert excluded.output.split() == ["traj-000317", "traj-000842"]
    listed = runner.invoke(app, ["incidents", "--case", path, "--exclude-list"])
    assert listed.output.split() == ["traj-000317", "traj-000842"]
    skew = runner.invoke(app, ["skew", "--case", path, "--format", "json"])
    rows = {r["host"]: r for r in json.loads(skew.output)}
    assert abs(rows["gpu-node-03"]["offset_s"] + 4.2) < 1.0
    links = runner.invoke(app, ["links", "--case", path, "--incident", "1", "--format", "json"])
    assert {r["trajectory_id"] for r in json.loads(links.output)} == {"traj-000317", "traj-000842"}
    answers = runner.invoke(app, ["incidents", "--case", path, "--format", "json"])
    body = json.loads(answers.output)
    assert body["incidents"][0]["answers"]["mining"][0]["coin"] == "Monero"
    missing = runner.invoke(app, ["incidents", "--case", path, "--incident", "9"])
    assert missing.exit_code == 1


def test_gpu_hour_price_reaches_the_cost(case_copy):
    # the link stage alone, on a copy of the case, at another price
    with Case(case_copy) as other:
        other.link(params={"gpu_hour_price": 4.0})
        gpus = correlate.incident_records(other.con)[0]["answers"]["gpus"]
    assert gpus["gpu_hour_price"] == 4.0
    assert gpus["estimated_cost"] == pytest.approx(gpus["gpu_hours"] * 4.0, abs=0.01)
