"""The timeline figure: the miner's GPUs jump after the launching step, with the tunnel, the mining
session and the alerts on the same time axis."""

from __future__ import annotations

import struct

import pytest

from forensics import Case
from forensics.errors import QueryError
from test_report_fixture import make_incident_case, run_cli


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    opened = make_incident_case(tmp_path_factory.mktemp("plot") / "case.duckdb")
    yield opened
    opened.close()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_miners_gpus_jump_after_the_launching_step(case):
    figure = case.plot_timeline()
    facts = figure.facts
    assert facts["host"] == "gpu-node-03"  # the host with the critical findings, chosen by itself
    assert facts["pivot"] == "2026-02-17T03:14:20Z"
    assert facts["pivot_basis"] == "traj-000317 step 14 launched a miner"
    assert facts["affected_gpus"] == [6, 7]  # no GPU finding names them here: their utilisation jumped
    gpu6 = next(g for g in facts["gpus"] if g["gpu_index"] == 6)
    assert gpu6["mean_before"] < 5 and gpu6["mean_after"] > 95
    assert gpu6["basis"].startswith("utilisation up ")
    training = [g for g in facts["gpus"] if g["gpu_index"] < 6]
    assert len(training) == 6 and all(abs(g["mean_after"] - g["mean_before"]) < 5 for g in training)
    # the window reaches back to the first flagged step (the probe at step 5) and on to the end of the sessions
    assert facts["window_start"] <= "2026-02-17T03:11:20Z" and facts["window_end"] >= "2026-02-17T03:58:00Z"
    assert [(s["step"], s["categories"]) for s in facts["flagged_steps"]] == [
        (5, "scan"), (10, "tunnel"), (12, "download_exec"), (14, "mining")]
    assert facts["lanes"] == {"agent steps": 1, "tunnel": 1, "mining": 1, "probe": 1, "firewall alerts": 2}
    assert facts["zoom"] == ["2026-02-17T03:10:20Z", "2026-02-17T03:17:20Z"]
    assert png_size(figure.png) == (1300, 680)
    assert figure._repr_png_() == figure.png  # Jupyter shows it inline


def test_the_figure_is_the_same_bytes_every_time(case, tmp_path):
    first = case.plot_timeline(path=str(tmp_path / "a.png"))
    second = case.plot_timeline()
    assert first.png == second.png == (tmp_path / "a.png").read_bytes()


def test_a_chosen_window_and_gpu(case):
    figure = case.plot_timeline(host="gpu-node-03", start="2026-02-17T03:13:00Z", end="2026-02-17T03:20:00Z",
                                gpus=[6])
    facts = figure.facts
    assert [g["gpu_index"] for g in facts["gpus"]] == [6] and facts["affected_gpus"] == [6]
    assert facts["window_start"] == "2026-02-17T03:12:00Z"  # a minute of margin, no widening when given
    assert facts["zoom"] is None  # the window is already close around the pivot
    assert [s["step"] for s in facts["flagged_steps"]] == [10, 12, 14]


def test_evidence_text_in_labels_is_drawn_as_text(tmp_path):
    with make_incident_case(tmp_path / "case.duckdb") as odd:
        odd.con.execute("UPDATE agent_steps SET trajectory_id = 'traj-$\\frac{1}{0}$-\x1b[2J'")
        odd.con.execute("UPDATE agent_actions SET trajectory_id = 'traj-$\\frac{1}{0}$-\x1b[2J'")
        figure = odd.plot_timeline()
    assert figure.facts["pivot_basis"].startswith("traj-$\\frac{1}{0}$")  # no mathtext error, no crash
    assert png_size(figure.png) == (1300, 680)


def test_nothing_to_plot_is_a_clear_error(tmp_path):
    with Case(tmp_path / "empty.duckdb") as empty:
        with pytest.raises(QueryError, match="nothing to plot"):
            empty.plot_timeline()


def test_plot_command(tmp_path, capsys):
    make_incident_case(tmp_path / "case.duckdb").close()
    code, out, err = run_cli(capsys, "plot", "--case", str(tmp_path / "case.duckdb"), "--out", str(tmp_path / "t.png"))
    assert code == 0, err
    assert "GPUs that jumped after the pivot: 6, 7" in out
    assert png_size((tmp_path / "t.png").read_bytes()) == (1300, 680)


def test_gpus_named_by_gpu_findings_are_the_affected_ones(tmp_path):
    # The GPU detections say which GPUs the miner held; the figure takes their word over the jump.
    with make_incident_case(tmp_path / "case.duckdb") as named:
        named.con.execute("""
            INSERT INTO findings (finding_id, detector, kind, severity, ts_start, ts_end, host, summary, details)
            VALUES ('f-div7', 'detect/gpu_diversion', 'gpu_diversion', 'high', TIMESTAMPTZ '2026-02-17 03:14:30+00',
                    TIMESTAMPTZ '2026-02-17 03:58:00+00', 'gpu-node-03', 'xmrig on GPU 7',
                    '{"gpu_uuid": "GPU-00000007-0000-0000-0000-000000000003", "gpu_index": 7}')""")
        figure = named.plot_timeline()
    facts = figure.facts
    assert facts["affected_gpus"] == [7]
    assert next(g for g in facts["gpus"] if g["gpu_index"] == 7)["basis"] == "named by gpu_diversion"
    assert facts["lanes"]["GPU diversion"] == 1
    assert facts["pivot_basis"] == "traj-000317 step 14 launched a miner"
