"""Query files: header parsing, parameters, discovery, and the rules every shipped query follows."""

from __future__ import annotations

from pathlib import Path

import pytest

from forensics import Case, queryfiles
from forensics.errors import QueryError

QUERY = """\
-- title: Busy hosts
-- description: Hosts with at least $min_rows test records,
--   counted per host.
-- param min_rows: 2  -- rows a host needs
-- param kind: 'test_record'  -- entity kind to count
-- param needed: required -- a value without default
SELECT host, count(*) AS n FROM entities
WHERE kind = $kind  -- a comment naming $not_a_param
GROUP BY host HAVING count(*) >= $min_rows
ORDER BY host
"""


def write(tmp_path: Path, text: str = QUERY) -> Path:
    path = tmp_path / "busy.sql"
    path.write_text(text)
    return path


def test_header_gives_title_description_and_typed_parameters(tmp_path):
    query = queryfiles.find(str(write(tmp_path)))
    assert query.title == "Busy hosts"
    assert query.description == "Hosts with at least $min_rows test records, counted per host."
    assert query.params["min_rows"].default == 2
    assert query.params["kind"].default == "test_record"
    assert query.params["needed"].required
    assert query.referenced_params() == ["kind", "min_rows"]


def test_parameters_bind_with_defaults_overrides_and_clear_errors(tmp_path):
    query = queryfiles.find(str(write(tmp_path)))
    assert query.bind({"min_rows": "5", "needed": "x"}) == {"kind": "test_record", "min_rows": 5}
    with pytest.raises(QueryError, match="has no parameter bogus"):
        query.bind({"bogus": 1})
    with pytest.raises(QueryError, match="not a int"):
        query.bind({"min_rows": "many"})
    undeclared = queryfiles.parse_query_text("x", Path("x.sql"), "-- title: x\nSELECT $nope")
    with pytest.raises(QueryError, match=r"uses \$nope but does not declare it"):
        undeclared.bind({})


def test_a_query_file_runs_against_the_case(tmp_path):
    with Case(tmp_path / "case.duckdb") as case:
        case.con.execute("INSERT INTO entities (kind, value, host) VALUES "
                         "('test_record','1','a'), ('test_record','2','a'), ('test_record','3','b')")
        frame = case.query(str(write(tmp_path)), min_rows=1)
        assert frame.to_dict(orient="records") == [{"host": "a", "n": 2}, {"host": "b", "n": 1}]
        assert case.query(str(write(tmp_path))).host.tolist() == ["a"]
        with pytest.raises(QueryError, match="no query named"):
            case.query("detect/does_not_exist")


def test_every_shipped_query_has_a_header_and_declares_its_parameters():
    for query in queryfiles.discover():
        assert query.title, query.name
        if query.group == "schema":
            continue
        for name in query.referenced_params():
            assert name in query.params, f"{query.name} uses ${name} without declaring it"


def test_every_shipped_query_binds_and_runs_on_an_empty_case(tmp_path):
    with Case(tmp_path / "case.duckdb") as case:
        for query in queryfiles.discover():
            if query.group == "schema" or any(p.required for p in query.params.values()):
                continue
            case.run_query(query)  # raises QueryError with the query's name when broken


def test_detections_return_only_findings_columns(tmp_path):
    with Case(tmp_path / "case.duckdb") as case:
        counts = case.detect()
        assert set(counts.columns) == {"detector", "title", "findings"}
        assert len(counts) == len(queryfiles.discover("detect"))
        with pytest.raises(QueryError, match="no detection takes parameter nonsense_setting"):
            case.detect(params={"nonsense_setting": 1})
