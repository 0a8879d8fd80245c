"""Agent step -> process links, refined with the shell parser the trajectory analysis uses.

``host/step_processes`` (SQL, portable) finds the candidates and matches an argv to a step's text
word by word. What SQL cannot do is run the shell's expansions: ``for h in $(seq 1 40); do timeout
0.3 bash -c "echo >/dev/tcp/10.20.1.$h/22"; done`` launches ``timeout 0.3 bash -c echo
>/dev/tcp/10.20.1.7/22``, which no literal text of the step contains. :func:`step_process_links`
takes the SQL candidates and, for those matched only by program name or by words, parses the step
with ``forensics.shell`` (loop variables, ``$(...)``, wrappers such as nohup/timeout, nested
``bash -c`` payloads) and compares the launch's argv with every simple command and its expansions.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import duckdb
import pandas as pd

from forensics import queryfiles, shell

SHELL_PARSED = "argv (shell parser)"
SHELL_PARSED_CONFIDENCE = 0.93


def _basename(word: str) -> str:
    return word.rstrip("/").rsplit("/", 1)[-1]


def _word_matches(position: int, seen: str, written: list[str]) -> bool:
    for candidate in written:
        if candidate == seen:
            return True
        # a program or a path: the kernel resolves it (./xmrig -> /tmp/.cache/xmrig)
        if (position == 0 or "/" in candidate) and candidate and not re.search(r"\s", candidate) \
                and _basename(candidate) == _basename(seen):
            return True
    return False


@lru_cache(maxsize=4096)
def _simple_commands(command: str) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Each simple command as, per word, the values it can take (its expansions)."""
    out = []
    for cmd in shell.parse_command(command):
        words = []
        for i, arg in enumerate(cmd.args):
            alternatives = cmd.alternatives[i] if i < len(cmd.alternatives) and cmd.alternatives[i] else [arg]
            words.append(tuple(alternatives))
        if words:
            out.append(tuple(words))
    return tuple(out)


_INTERPRETER = re.compile(r"^((python|pypy|perl|ruby|php)[0-9.]*|node(js)?|bash|sh|dash|zsh|ksh|env)$")


def argv_matches_command(argv: list[str] | tuple[str, ...], command: str) -> bool:
    """True when the launch's argv (launch wrappers removed) is one of the simple commands of the
    shell text, allowing every expansion the parser knows for each word. A script started through
    its #! line shows the interpreter first (``/usr/bin/python3 /usr/local/bin/pip install x``):
    it matches the text ``pip install x`` too."""
    variants = [list(argv)]
    if len(argv) >= 2 and argv[1].startswith("/") and _INTERPRETER.match(_basename(argv[0])):
        variants.append(list(argv[1:]))
    commands = _simple_commands(command)
    for variant in variants:
        seen = shell.normalise_argv(variant)
        if not seen:
            continue
        for words in commands:
            if len(words) == len(seen) and all(_word_matches(i, s, list(w))
                                               for i, (s, w) in enumerate(zip(seen, words))):
                return True
    return False


def step_process_links(con: duckdb.DuckDBPyConnection, window_s: int = 120, skew_s: int = 10,
                       min_confidence: float = 0.5) -> pd.DataFrame:
    """``host/step_processes`` with matches by program name or words re-checked by the shell parser
    (basis ``argv (shell parser)``, confidence 0.93); ``best_for_process`` is recomputed."""
    query = queryfiles.find("host/step_processes")
    params: dict[str, Any] = {"window_s": window_s, "skew_s": skew_s, "min_confidence": 0.0}
    frame = con.execute(query.sql, query.bind(params)).df()
    if frame.empty:
        return frame
    todo = frame["basis"].isin(["program", "argv"])
    if todo.any():
        keys = frame.loc[todo, ["step_evidence_id", "step_locator"]].drop_duplicates()
        con.register("_step_keys", keys)
        try:
            commands = {(r[0], r[1]): r[2] for r in con.execute(
                "SELECT s.evidence_id, s.locator, s.command FROM agent_steps s "
                "JOIN _step_keys k ON k.step_evidence_id = s.evidence_id AND k.step_locator = s.locator "
                "WHERE s.action = 'exec'").fetchall()}
        finally:
            con.unregister("_step_keys")
        for index in frame.index[todo]:
            row = frame.loc[index]
            command = commands.get((row["step_evidence_id"], row["step_locator"]))
            argv = row["argv"]
            if command is None or argv is None or len(argv) == 0:
                continue
            if argv_matches_command(list(argv), command):
                frame.at[index, "basis"] = SHELL_PARSED
                frame.at[index, "confidence"] = round(
                    SHELL_PARSED_CONFIDENCE * (1.0 if row["same_sandbox"] else 0.9), 3)
    frame["_gap"] = (frame["proc_ts"] - frame["step_ts"]).abs()
    frame = frame.sort_values(["proc_id", "confidence", "_gap"], ascending=[True, False, True])
    frame["best_for_process"] = ~frame.duplicated("proc_id")
    frame = frame.drop(columns="_gap")
    frame = frame[frame["confidence"] >= min_confidence]
    return frame.sort_values(["proc_ts", "trajectory_id", "step", "call_index"]).reset_index(drop=True)
