"""ROLL rollout dumps (``rollout_dump_data.step_{N}.jsonl``): one columnar JSON line per training
step, ``{"trajectory_data": [...], "messages": [...], "tools": [...], "exp_name": [...],
"global_step": [...]}``, every list element itself a JSON string (decoded twice).
``trajectory_data`` carries ``trajectory_id``, a naive local ``timestamp`` (``%Y%m%d_%H%M%S_%f``),
``env_info`` with ``sandbox_id`` and ``sandbox_ip`` (the firewall join key) and ``reward_info``;
``messages`` are OpenAI chat messages (iFlow's ``run_shell_command`` tool, or Qwen3-Coder XML)."""

from __future__ import annotations

import json
from typing import Any

from forensics.agent import analyse
from forensics.agent.messages import TrajectoryMeta, steps_from_messages
from forensics.agent.steps import StepWriter, parse_time
from forensics.context import ParseContext
from forensics.registry import Parser, Sniff, register

NAME = "roll_rollout"


def sniff(s: Sniff) -> float:
    head = s.text[:4096]
    return 0.95 if head.lstrip().startswith("{") and '"trajectory_data"' in head else 0.0


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def parse(ctx: ParseContext) -> None:
    writer = StepWriter(ctx)
    with ctx.open() as handle:
        for n, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                batch = json.loads(raw)
            except ValueError:
                ctx.warn(f"line:{n}", "truncated or invalid JSON line", raw[:200])
                continue
            trajs = batch.get("trajectory_data") or []
            messages = batch.get("messages") or []
            for i, traj in enumerate(trajs):
                traj = _decode(traj)
                if not isinstance(traj, dict):
                    ctx.warn(f"line:{n} trajectory_data[{i}]", "trajectory_data element is not a JSON object", traj)
                    continue
                env = traj.get("env_info") or {}
                msgs = _decode(messages[i]) if i < len(messages) else []
                if isinstance(msgs, list):
                    msgs = [_decode(m) for m in msgs]
                exp = batch.get("exp_name") or []
                step_list = batch.get("global_step") or []
                tid = str(traj.get("trajectory_id") or f"line{n}-{i}")
                start = parse_time(traj.get("timestamp"), ctx.hints.timezone or "Asia/Shanghai")
                # messages rarely carry times: the trajectory's own stamp anchors them (derived)
                if isinstance(msgs, list):
                    for m in msgs:
                        if isinstance(m, dict) and not any(k in m for k in ("timestamp", "ts", "created_at")) \
                                and start[0] is not None:
                            m["timestamp"] = start[0].isoformat()
                meta = TrajectoryMeta(
                    NAME, tid, run_id=_decode(exp[i]) if i < len(exp) else None,
                    sandbox=env.get("sandbox_id"), sandbox_ip=env.get("sandbox_ip"), host=env.get("host") or ctx.hints.host,
                    reward=(traj.get("reward_info") or {}).get("episode_reward"),
                    global_step=_decode(step_list[i]) if i < len(step_list) else None,
                    locator_prefix=f"line:{n} trajectory_data[{i}] traj:{tid} ")
                before = writer.rows
                steps_from_messages(msgs if isinstance(msgs, list) else [], meta, writer,
                                    tz_hint=ctx.hints.timezone, warn=ctx.warn)
                for j in range(before, writer.rows):
                    if start[0] is not None:
                        writer.columns["ts_basis"][j] = "derived"
                        writer.columns["tz_assumed"][j] = start[3]
    writer.flush()
    analyse.finish(ctx)


register(Parser(
    name=NAME, description="ROLL rollout dumps (columnar JSON lines, JSON encoded twice; env_info sandbox_id/sandbox_ip)",
    tables=("agent_steps", "agent_actions", "agent_scripts", "entities"), sniff=sniff, parse=parse,
    extensions=(".jsonl",),
))
