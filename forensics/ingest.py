"""Ingest: evidence files in, normalised rows out, one transaction per evidence file.

For each file: hash it, skip it if the same bytes are already in the case, recognise its wrapping
by magic bytes, find the parser (``--format`` or sniffing), and parse it inside one transaction
together with its ``evidence`` row. A crash or kill mid-file leaves nothing of that file behind,
and the next run picks it up again. Files no parser claims are registered as ``unclaimed`` and
listed in the summary; a parser that fails on a file leaves a ``failed`` evidence row and a
warning, and the run goes on with the next file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import duckdb

from . import __version__
from .context import Hints, ParseContext
from .errors import EvidenceError
from .evidence import (
    Materialized,
    Problem,
    detect_compression,
    extract_member,
    iter_evidence_paths,
    materialize,
    read_head,
    read_head_decompressed,
    remove_quietly,
    sha256_file,
    zip_members,
)
from .hints import HintSource
from .registry import Parser, Sniff, choose_parser, get_parser, parsers

# Test hook for the crash-consistency test: kill the process (SIGKILL, no cleanup) after parsing
# the Nth new evidence file and before its transaction commits.
_KILL_BEFORE_COMMIT = int(os.environ.get("FORENSICS_TEST_KILL_BEFORE_COMMIT", "0") or 0)


@dataclass
class FileOutcome:
    path: str
    member: str | None
    status: str  # parsed, duplicate, unclaimed, failed, archive
    evidence_id: int | None = None
    parser: str | None = None
    n_records: int = 0
    n_warnings: int = 0
    message: str = ""

    @property
    def display_path(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path


@dataclass
class IngestSummary:
    run_id: int | None
    outcomes: list[FileOutcome] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def new_evidence(self) -> int:
        return sum(1 for o in self.outcomes if o.status in ("parsed", "unclaimed", "failed", "archive"))

    @property
    def records(self) -> int:
        return sum(o.n_records for o in self.outcomes)

    @property
    def warnings(self) -> int:
        return sum(o.n_warnings for o in self.outcomes)

    @property
    def unclaimed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "unclaimed"]


@dataclass
class _Planned:
    path: str
    sha256: str
    size: int
    compression: str | None
    parser: Parser | None
    score: float
    head: bytes
    zip_names: tuple[str, ...] = ()
    reuse_id: int | None = None  # an unclaimed evidence row that --format now parses


class Ingestor:
    """Runs one ingest into an open case connection (the single writer)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        format_name: str | None = None,
        hints: Hints | None = None,
        options: dict[str, str] | None = None,
        tmp_dir: str | None = None,
        command: list[str] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.con = con
        self.forced = get_parser(format_name) if format_name else None
        self.cli_hints = hints or Hints()
        self.options = options or {}
        self.tmp_dir = tmp_dir
        self.command = command if command is not None else list(sys.argv)
        self.progress = progress
        self.run_id: int | None = None
        self._done_files = 0

    # ------------------------------------------------------------------ planning
    def _known_hashes(self) -> dict[str, tuple[int, str]]:
        rows = self.con.execute("SELECT sha256, evidence_id, status FROM evidence").fetchall()
        return {sha: (eid, status) for sha, eid, status in rows}

    def _sniff(self, path: str, compression: str | None, head: bytes,
               zip_names: tuple[str, ...]) -> tuple[Parser | None, float]:
        if self.forced is not None:
            return self.forced, 1.0
        sniff = Sniff(name=os.path.basename(path), path=path, head=head,
                      compression=compression, zip_members=zip_names)
        return choose_parser(sniff)

    def plan(self, paths: list[str]) -> tuple[list[_Planned], list[FileOutcome]]:
        known = self._known_hashes()
        planned: list[_Planned] = []
        skipped: list[FileOutcome] = []
        seen: dict[str, str] = {}
        for path in iter_evidence_paths(paths):
            reuse_id = None
            try:
                digest, size = sha256_file(path)
                raw_head = read_head(path, 16)
            except OSError as exc:
                raise EvidenceError(f"cannot read evidence file {path}: {exc.strerror or exc}") from None
            if digest in seen:
                skipped.append(FileOutcome(path, None, "duplicate",
                                           message=f"same bytes as {seen[digest]} in this run"))
                continue
            seen[digest] = path
            if digest in known:
                evidence_id, status = known[digest]
                if status != "unclaimed" or self.forced is None:
                    skipped.append(FileOutcome(path, None, "duplicate", evidence_id=evidence_id,
                                               message=f"already in the case as evidence {evidence_id}"))
                    continue
                reuse_id = evidence_id
            compression = detect_compression(raw_head)
            zip_names: tuple[str, ...] = ()
            if compression == "zip":
                try:
                    zip_names = tuple(m.name for m in zip_members(path))
                except Exception:
                    zip_names = ()
                    compression = None  # a broken archive is offered to the parsers as bytes
            head = read_head_decompressed(path, compression if compression != "zip" else None)
            parser, score = self._sniff(path, compression, head, zip_names)
            planned.append(_Planned(path, digest, size, compression, parser, score, head, zip_names, reuse_id))
        planned.sort(key=lambda p: (p.parser.phase if p.parser else 100, p.path))
        return planned, skipped

    # ------------------------------------------------------------------ running
    def run(self, paths: list[str]) -> IngestSummary:
        planned, skipped = self.plan(paths)
        summary = IngestSummary(run_id=None, outcomes=list(skipped))
        if not planned:
            return summary
        self.run_id = self._start_run()
        summary.run_id = self.run_id
        total = sum(p.size for p in planned)
        done_bytes = 0
        finalizers: dict[str, Parser] = {}
        try:
            for group in _commit_groups(planned):
                if self.progress:
                    self.progress(group[0].path, done_bytes, total)
                outcomes = self._ingest_one(group)
                summary.outcomes.extend(outcomes)
                for outcome in outcomes:
                    if outcome.status == "parsed" and outcome.parser:
                        parser = get_parser(outcome.parser)
                        if getattr(parser, "finalize", None):
                            finalizers[parser.name] = parser
                done_bytes += sum(item.size for item in group)
                if self.progress:
                    self.progress(group[-1].path, done_bytes, total)
            for parser in finalizers.values():
                self._finalize(parser)
        except BaseException:
            self._end_run("interrupted", summary)
            raise
        self._end_run("completed", summary)
        return summary

    def _start_run(self) -> int:
        run_id = self.con.execute("SELECT coalesce(max(run_id), 0) + 1 FROM runs").fetchone()[0]
        parameters = {
            "format": self.forced.name if self.forced else None,
            "host": self.cli_hints.host,
            "timezone": self.cli_hints.timezone,
            "year": self.cli_hints.year,
            "options": self.options,
        }
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL, 'running', 0)",
            [run_id, __version__, json.dumps(self.command), json.dumps(parameters, sort_keys=True),
             datetime.now(timezone.utc)],
        )
        return int(run_id)

    def _end_run(self, status: str, summary: IngestSummary) -> None:
        try:
            self.con.execute(
                "UPDATE runs SET ended_at = ?, status = ?, n_new_evidence = ? WHERE run_id = ?",
                [datetime.now(timezone.utc), status, summary.new_evidence, self.run_id],
            )
        except duckdb.Error:
            pass

    def _next_evidence_id(self) -> int:
        return int(self.con.execute("SELECT coalesce(max(evidence_id), 0) + 1 FROM evidence").fetchone()[0])

    def _ingest_one(self, group: list[_Planned]) -> list[FileOutcome]:
        """One evidence file (a zip archive with all its members), or a group of small files of
        one parser (see ``Parser.shared_commit_bytes``), in one transaction.

        A parser that fails poisons the transaction, so the group is rolled back and ingested
        again with that parser's file (or archive member) registered as failed."""
        failed: dict[str, dict[str | None, _ParserFailed]] = {}
        done_before = self._done_files
        while True:
            self.con.begin()
            self._done_files = done_before
            outcomes: list[FileOutcome] = []
            try:
                for item in group:
                    self._failed = failed.setdefault(item.path, {})
                    hint_source = HintSource.from_case(self.con)
                    if item.reuse_id is not None:
                        self.con.execute("DELETE FROM evidence WHERE evidence_id = ? OR parent_id = ?",
                                         [item.reuse_id, item.reuse_id])
                    try:
                        if item.compression == "zip" and not (item.parser and item.parser.accepts_zip):
                            outcomes.extend(self._ingest_archive(item, hint_source))
                        else:
                            outcomes.append(self._ingest_file(item, hint_source))
                    except _ParserFailed as failure:
                        failure.path = item.path
                        raise
                    self._done_files += 1
                    if _KILL_BEFORE_COMMIT and self._done_files >= _KILL_BEFORE_COMMIT:
                        os.kill(os.getpid(), signal.SIGKILL)
                self.con.commit()
                return outcomes
            except _ParserFailed as failure:
                self.con.rollback()
                seen = failed.setdefault(failure.path, {})
                if failure.member in seen:  # cannot happen twice; do not loop forever
                    raise
                seen[failure.member] = failure
            except BaseException:
                self.con.rollback()
                raise

    def _next_id_for(self, item: _Planned) -> int:
        return item.reuse_id if item.reuse_id is not None else self._next_evidence_id()

    def _insert_evidence(self, *, evidence_id: int, parent_id: int | None, path: str,
                         member: str | None, size: int, sha256: str, compression: str | None,
                         parser: Parser | None, score: float, status: str, hints: Hints,
                         n_records: int = 0, n_warnings: int = 0,
                         records_by_table: dict[str, int] | None = None) -> None:
        self.con.execute(
            """INSERT INTO evidence (evidence_id, parent_id, path, member, size, sha256, compression,
                   format, parser, parser_version, tool_version, host_hint, tz_hint, year_hint,
                   hint_sources, sniff_score, status, n_records, n_warnings, records_by_table,
                   run_id, ingested_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
            [evidence_id, parent_id, path, member, size, sha256, compression,
             parser.name if parser and status == "parsed" else status,
             parser.name if parser else None, parser.version if parser else None, __version__,
             hints.host, hints.timezone, hints.year, json.dumps(hints.hint_sources, sort_keys=True),
             score, status, n_records, n_warnings,
             json.dumps(dict(sorted((records_by_table or {}).items()))), self.run_id,
             datetime.now(timezone.utc)],
        )

    def _parse(self, *, evidence_id: int, path: str, member: str | None, local: Materialized,
               parser: Parser, hints: Hints) -> tuple[str, int, int, dict[str, int], str]:
        """Run one parser; returns status, records, warnings, records by table and a message."""
        ctx = ParseContext(
            self.con, evidence_id, path, local.path, parser.name, hints,
            options=self.options, tmp_dir=self.tmp_dir, member=member,
        )
        for problem in local.problems:
            ctx.warn(problem.locator, problem.reason, problem.excerpt)
        try:
            parser.parse(ctx)
        except Exception as exc:  # the file fails, the run goes on
            raise _ParserFailed(member, exc, traceback.format_exc()) from exc
        ctx.flush_warnings()
        return "parsed", sum(ctx.records.values()), ctx.n_warnings, dict(ctx.records), ""

    def _ingest_file(self, item: _Planned, hint_source: HintSource) -> FileOutcome:
        hints = hint_source.resolve(item.path, self.cli_hints)
        evidence_id = self._next_id_for(item)
        if item.parser is None:
            self._insert_evidence(evidence_id=evidence_id, parent_id=None, path=item.path, member=None,
                                  size=item.size, sha256=item.sha256, compression=item.compression,
                                  parser=None, score=0.0, status="unclaimed", hints=hints)
            return FileOutcome(item.path, None, "unclaimed", evidence_id,
                               message="no parser recognises this file (use --format NAME to force one)")
        local = (Materialized(Path(item.path), item.size, temporary=False)
                 if item.compression == "zip" else materialize(item.path, item.compression, self.tmp_dir))
        try:
            return self._parse_and_register(item.path, None, None, evidence_id, item.size, item.sha256,
                                            item.compression, item.parser, item.score, hints, local)
        finally:
            if local.temporary:
                remove_quietly(local.path)

    def _parse_and_register(self, path: str, member: str | None, parent_id: int | None,
                            evidence_id: int, size: int, sha256: str, compression: str | None,
                            parser: Parser, score: float, hints: Hints,
                            local: Materialized) -> FileOutcome:
        if member in self._failed:
            return self._record_failure(path, member, parent_id, evidence_id, size, sha256,
                                        compression, parser, score, hints, self._failed[member])
        # The evidence row goes in first so parsers may refer to it; counts are set afterwards.
        self._insert_evidence(evidence_id=evidence_id, parent_id=parent_id, path=path, member=member,
                              size=size, sha256=sha256, compression=compression, parser=parser,
                              score=score, status="parsed", hints=hints)
        status, n_records, n_warnings, by_table, message = self._parse(
            evidence_id=evidence_id, path=path, member=member, local=local, parser=parser, hints=hints)
        self.con.execute(
            "UPDATE evidence SET n_records = ?, n_warnings = ?, records_by_table = ? WHERE evidence_id = ?",
            [n_records, n_warnings, json.dumps(dict(sorted(by_table.items()))), evidence_id],
        )
        return FileOutcome(path, member, status, evidence_id, parser.name, n_records, n_warnings, message)

    def _record_failure(self, path, member, parent_id, evidence_id, size, sha256, compression,
                        parser, score, hints, failure: "_ParserFailed") -> FileOutcome:
        self._insert_evidence(evidence_id=evidence_id, parent_id=parent_id, path=path, member=member,
                              size=size, sha256=sha256, compression=compression, parser=parser,
                              score=score, status="failed", hints=hints, n_warnings=1)
        reason = f"parser {parser.name} failed: {type(failure.exc).__name__}: {failure.exc}"
        self.con.execute(
            "INSERT INTO parse_warnings VALUES (?, NULL, ?, ?, ?)",
            [evidence_id, reason[:1000], failure.trace[-240:], parser.name],
        )
        return FileOutcome(path, member, "failed", evidence_id, parser.name, 0, 1, reason)

    def _ingest_archive(self, item: _Planned, hint_source: HintSource) -> list[FileOutcome]:
        container_hints = hint_source.resolve(item.path, self.cli_hints)
        container_id = self._next_id_for(item)
        self._insert_evidence(evidence_id=container_id, parent_id=None, path=item.path, member=None,
                              size=item.size, sha256=item.sha256, compression="zip", parser=None,
                              score=0.0, status="archive", hints=container_hints)
        outcomes = [FileOutcome(item.path, None, "archive", container_id,
                                message=f"zip archive with {len(item.zip_names)} members")]
        for name in item.zip_names:
            local = extract_member(item.path, name, self.tmp_dir)
            try:
                digest, size = sha256_file(local.path)
                member_compression = detect_compression(read_head(local.path, 16))
                if member_compression == "zip":
                    member_compression = None  # nested archives are parsed as bytes, not expanded again
                inner = local
                if member_compression:
                    inner = materialize(str(local.path), member_compression, self.tmp_dir)
                    inner.problems[:0] = local.problems
                head = read_head(inner.path)
                member_path = os.path.join(item.path, name)
                parser, score = self._sniff(member_path, member_compression, head, ())
                hints = hint_source.resolve(member_path, self.cli_hints)
                evidence_id = self._next_evidence_id()
                if parser is None:
                    self._insert_evidence(evidence_id=evidence_id, parent_id=container_id, path=item.path,
                                          member=name, size=size, sha256=digest,
                                          compression=member_compression, parser=None, score=0.0,
                                          status="unclaimed", hints=hints)
                    outcomes.append(FileOutcome(item.path, name, "unclaimed", evidence_id,
                                                message="no parser recognises this member"))
                else:
                    outcomes.append(self._parse_and_register(
                        item.path, name, container_id, evidence_id, size, digest, member_compression,
                        parser, score, hints, inner))
                if inner is not local and inner.temporary:
                    remove_quietly(inner.path)
            finally:
                remove_quietly(local.path)
        return outcomes

    def _finalize(self, parser: Parser) -> None:
        """Cross-file work a parser does once per run (e.g. stitching flows across chunks)."""
        finalize = getattr(parser, "finalize", None)
        if finalize is None:
            return
        self.con.begin()
        try:
            finalize(self.con)
            self.con.commit()
        except BaseException:
            self.con.rollback()
            raise


class _ParserFailed(Exception):
    def __init__(self, member: str | None, exc: Exception, trace: str) -> None:
        super().__init__(str(exc))
        self.member = member
        self.exc = exc
        self.trace = trace
        self.path = ""  # the evidence file (set by the group loop)


def _commit_groups(planned: list[_Planned]) -> list[list[_Planned]]:
    """Consecutive files that share a transaction: small plain files of one parser that allows
    it, up to its byte budget; every other file alone."""
    groups: list[list[_Planned]] = []
    budget = used = 0
    for item in planned:
        limit = item.parser.shared_commit_bytes if item.parser and item.compression != "zip" else 0
        shareable = 0 < item.size < limit and item.reuse_id is None
        if (shareable and groups and budget and groups[-1][-1].parser is item.parser
                and used + item.size <= budget):
            groups[-1].append(item)
            used += item.size
            continue
        groups.append([item])
        budget, used = (limit, item.size) if shareable else (0, 0)
    return groups


def all_formats() -> list[Parser]:
    return parsers()


__all__ = ["Ingestor", "IngestSummary", "FileOutcome", "Problem", "all_formats"]
