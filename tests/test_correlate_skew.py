"""Clock skew from matched pairs: a node whose kern.log (whole seconds, its own clock) runs 4.2 s
slow against the capture, cloud-firewall pairs, approximate pairs from agent steps and their
launches, robustness to a mismatched pair, and hosts with no pair at all."""

from __future__ import annotations

import random

import pytest

from correlate_cases import at, cluster


@pytest.fixture
def tiny(tmp_path):
    case = cluster(tmp_path / "case.duckdb")
    yield case
    case.close()


def _connections(tiny, host: str, node_ip: str, offset: float, n: int = 40, seed: int = 7,
                 reference: str = "pcap") -> None:
    """n connections seen by the host's kernel log (stamped by its clock, whole seconds) and by a
    reference (the capture, or the cloud firewall with whole seconds too)."""
    rng = random.Random(seed)
    for i in range(n):
        true = 100 + i * 13.37 + rng.random()
        stamped = at(true + offset).replace(microsecond=0)
        tiny.net(stamped, host, node_ip, 40000 + i, "192.0.2.10", 443, fmt="netfilter", path=f"kern-{host}.log")
        if reference == "pcap":
            tiny.flow(at(true), host, node_ip, 40000 + i, "192.0.2.10", 443)
        else:
            tiny.net(at(true).replace(microsecond=0), host, "198.51.100.11", 40000 + i, "192.0.2.10", 443,
                     fmt="alibaba_cloudfw", path="cloudfw.json", src_private_ip=node_ip)


def test_a_kernel_log_4_2_s_slow_against_the_capture_is_estimated_within_a_tenth(tiny):
    _connections(tiny, "node-a", "10.20.1.11", -4.2)
    tiny.link()
    offsets = tiny.case.skew()
    chosen = offsets[offsets["chosen"]].set_index("host").loc["node-a"]
    assert chosen["offset_s"] == pytest.approx(-4.2, abs=0.1)
    assert chosen["n_pairs"] == 40
    assert chosen["resolution_s"] == 1.0
    assert chosen["reference"] == "pcap"
    assert 0 < chosen["spread_s"] < 1.0
    # the views correct the host's stamps and leave the capture's alone
    corrected = tiny.con.execute(
        "SELECT max(abs(epoch(n.ts_corrected) - epoch(f.ts))) FROM net_events_corrected n "
        "JOIN flows f ON f.orig_p = n.src_port WHERE n.source_format = 'netfilter'").fetchone()[0]
    assert corrected < 1.1  # the whole-second stamp plus the estimate's error
    assert tiny.con.execute("SELECT bool_and(ts_corrected = ts) FROM flows_corrected").fetchone()[0]


def test_cloud_firewall_pairs_give_the_offset_when_both_sides_write_whole_seconds(tiny):
    _connections(tiny, "node-a", "10.20.1.11", -3.3, n=60, reference="cloudfw")
    tiny.link()
    offsets = tiny.case.skew()
    chosen = offsets[offsets["chosen"]].set_index("host").loc["node-a"]
    # the median of whole-second differences lands on -3; the mean of the near pairs does not
    assert chosen["offset_s"] == pytest.approx(-3.3, abs=0.2)
    assert chosen["reference"] == "cloud firewall"


def test_a_mismatched_pair_does_not_move_the_estimate(tiny):
    _connections(tiny, "node-a", "10.20.1.11", -4.2)
    # a stray kernel line 200 s off that happens to share a connection's ports
    tiny.flow(at(3000), "node-a", "10.20.1.11", 49999, "192.0.2.10", 443)
    tiny.net(at(2800), "node-a", "10.20.1.11", 49999, "192.0.2.10", 443, path="kern-node-a.log")
    tiny.link()
    offsets = tiny.case.skew()
    chosen = offsets[offsets["chosen"]].set_index("host").loc["node-a"]
    assert chosen["n_pairs"] == 41
    assert chosen["offset_s"] == pytest.approx(-4.2, abs=0.15)


def test_hosts_without_pairs_say_so_and_keep_their_stamps(tiny):
    _connections(tiny, "node-a", "10.20.1.11", 0.0, n=10)
    tiny.net(at(500), "node-b", "10.20.1.12", 41000, "192.0.2.10", 443, path="kern-node-b.log")
    tiny.link()
    offsets = tiny.case.skew().set_index("host")
    assert offsets.loc["node-b", "method"] == "no pairs" and offsets.loc["node-b", "n_pairs"] == 0
    assert not offsets.loc["node-b", "chosen"]
    assert tiny.con.execute("SELECT bool_and(ts_corrected = ts) FROM net_events_corrected "
                            "WHERE host = 'node-b'").fetchone()[0]


def test_agent_steps_and_their_launches_give_an_approximate_estimate_for_a_host_with_nothing_else(tiny):
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 3600)
    ev = tiny.evidence("auditd", "audit.log")
    # the sandbox's init, then one launch per step, stamped by node-a's clock (6 s fast) 0.2 s later
    tiny.con.execute("INSERT INTO processes (ts, host, pid, ppid, exe, argv, sandbox, evidence_id, locator) "
                     "VALUES (?, 'node-a', 100, 1, '/sbin/sandbox-init', ['sandbox-init'], 'sbx-1', ?, 'line:0')",
                     [at(1), ev])
    for i in range(5):
        start = 100 + 60 * i
        tiny.step("traj-1", i + 1, start, f"cat file{i}.txt", end=start + 1)
        tiny.con.execute("INSERT INTO processes (ts, host, pid, ppid, exe, argv, evidence_id, locator) "
                         "VALUES (?, 'node-a', ?, 100, '/usr/bin/cat', ?, ?, ?)",
                         [at(start + 6.2), 200 + i, ["cat", f"file{i}.txt"], ev, f"line:{i + 1}"])
    tiny.link()
    offsets = tiny.case.skew()
    chosen = offsets[offsets["chosen"]].set_index("host").loc["node-a"]
    assert chosen["method"].startswith("approximate: agent step vs the launch it caused")
    assert chosen["offset_s"] == pytest.approx(6.2, abs=0.01)   # the launch latency is in it
    assert chosen["n_pairs"] == 5
