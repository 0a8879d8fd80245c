"""The HTML report in a real browser: headless Chromium (Debian's chromium) loads it offline with no
script errors or policy violations, the report's own script runs, and a hostile command line and
log excerpt from the evidence show as text instead of running."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from test_report_fixture import make_incident_case

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-default-apps", "--mute-audio",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000"]


@pytest.fixture(scope="module")
def chromium():
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("chromium is not installed (./scripts/setup --test installs it as root)")


def load(chromium: str, page, profile) -> tuple[str, list[str]]:
    """The DOM after load, and the console messages the page produced."""
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    return result.stdout, console


def test_the_console_check_sees_blocked_scripts(chromium, tmp_path):
    # The check below would notice an escaping failure: an unescaped script under the same kind of
    # policy is reported on the console.
    page = tmp_path / "unescaped.html"
    page.write_text("<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                    "content=\"default-src 'none'\"><title>t</title></head><body>"
                    "<script>document.title='pwned'</script></body></html>")
    dom, console = load(chromium, page, tmp_path / "profile")
    assert console and "Content Security Policy" in console[0]
    assert "<title>t</title>" in dom


def test_report_loads_in_chromium_and_hostile_evidence_shows_as_text(chromium, tmp_path):
    with make_incident_case(tmp_path / "case.duckdb") as case:
        result = case.report(tmp_path / "report")
    dom, console = load(chromium, result.files["report.html"], tmp_path / "profile")
    assert console == []  # no script error, no blocked resource, no policy violation
    assert 'data-report-script="ok"' in dom  # the report's own script ran under its CSP hash
    assert "<title>Forensic report: case.duckdb</title>" in dom
    assert "pwned" not in re.search(r"<title>.*?</title>", dom).group(0)
    assert "data-pwned" not in dom
    assert len(re.findall(r"<script\b", dom)) == 1
    assert len(re.findall(r"<img\b", dom)) == 1  # the timeline figure only, not the one in the evidence
    # the step's command line, as text in the timeline
    assert ("traj-000317 step 3: echo '&lt;script&gt;document.title='pwned'&lt;/script&gt;&lt;img src=x "
            "onerror=\"document.body.dataset.pwned=1\"&gt;'") in dom
    # the parse warning's excerpt, with its escape sequence made visible
    assert "\\x1b[31m&lt;script&gt;document.title='pwned'" in dom
