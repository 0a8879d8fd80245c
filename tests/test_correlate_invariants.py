"""The invariant queries return nothing on a correctly linked case, and each one catches the
mistake it is there for: an effect before its cause, a link without evidence, traffic from
another place blamed on a step, a link that does not state its basis, a finding without
evidence, something both linked and unattributed."""

from __future__ import annotations

import pytest

from correlate_cases import at, cluster
from forensics import correlate, queryfiles


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    tiny = cluster(tmp_path_factory.mktemp("invariants") / "case.duckdb")
    tiny.sandbox("traj-1", "sbx-1", "10.244.1.10", "node-a", 0, 900)
    ref = tiny.step("traj-1", 12, 100, "ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50", end=102)
    tiny.action(ref, "traj-1", 12, "tunnel", "ssh_reverse_forward", "ip", "203.0.113.50", ip="203.0.113.50", port=22)
    syn = tiny.net(at(100.3), "node-a", "10.244.1.10", 43218, "203.0.113.50", 22, path="kern.log")
    tiny.flow(at(100.3), "node-a", "10.20.1.11", 43218, "203.0.113.50", 22)
    tiny.finding("f-egress", "egress", at(100.3), "node-a", [("net_events", *syn)], src_ip="10.244.1.10",
                 dst_ip="203.0.113.50", dst_port=22)
    outsider = tiny.net(at(101), "node-a", "203.0.113.200", 50000, "10.20.1.11", 22, action="deny",
                        direction="inbound", path="kern.log")
    tiny.link()
    tiny.outsider = outsider
    yield tiny
    tiny.close()


def _violations(tiny, name: str) -> int:
    return correlate.check_invariants(tiny.con)[f"invariant/{name}"]


@pytest.fixture
def rollback(linked):
    linked.con.begin()
    yield linked
    linked.con.rollback()


def test_every_invariant_is_empty_on_a_linked_case(linked):
    counts = correlate.check_invariants(linked.con)
    assert set(counts) == {q.name for q in queryfiles.discover("invariant")}
    assert counts == {name: 0 for name in counts}
    assert len(linked.links()) >= 3


def test_an_effect_before_its_cause_is_caught(rollback):
    rollback.con.execute("UPDATE links SET delta_s = -30 WHERE effect_tbl = 'net_events'")
    assert _violations(rollback, "effect_before_cause") == 1


def test_a_link_whose_cause_or_rows_vanished_is_caught(rollback):
    rollback.con.execute("DELETE FROM agent_steps")
    rollback.con.execute("DELETE FROM flows")
    assert _violations(rollback, "link_without_evidence") >= len(rollback.links())


def test_traffic_from_another_place_linked_to_a_step_is_caught(rollback):
    link_id = rollback.links(effect_tbl="net_events")[0]["link_id"]
    evidence_id, locator = rollback.outsider
    rollback.con.execute("INSERT INTO link_rows VALUES (?, 'net_events', ?, ?, NULL)", [link_id, evidence_id, locator])
    assert _violations(rollback, "link_from_elsewhere") == 1


def test_a_time_only_link_not_labelled_weak_is_caught(rollback):
    rollback.con.execute("UPDATE links SET basis = 'time', weak = false WHERE effect_tbl = 'flows'")
    assert _violations(rollback, "link_basis_stated") == 1


def test_a_finding_without_evidence_is_caught(rollback):
    rollback.con.execute("INSERT INTO findings (finding_id, kind, evidence_refs) VALUES ('bare', 'probe', [])")
    rollback.con.execute("INSERT INTO findings (finding_id, kind, evidence_refs) VALUES "
                         "('dangling', 'probe', [{'tbl': 'net_events', 'evidence_id': 99, 'locator': 'line:1'}])")
    assert _violations(rollback, "finding_without_evidence") == 2


def test_something_both_linked_and_unattributed_is_caught(rollback):
    rollback.con.execute("INSERT INTO unattributed (item_kind, finding_id, kind) VALUES ('finding', 'f-egress', 'egress')")
    assert _violations(rollback, "unattributed_is_unlinked") == 1
