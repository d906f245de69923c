"""Labels a reader can trust: the coverage inside every bracket, each model's own settings, one machine
id, the run's schema, the real batch beside the model's own, a caveat on a small or shared machine, the
hash of an uncommitted diff, and the compiled scope of every mode."""

from __future__ import annotations

import re
from pathlib import Path

from report_fixtures import ENVIRONMENT, FixtureCell, write_run

from bench.host.envinfo import git_info
from bench.markdown import fmt_ratio_ci
from bench.report.build import write_report
from bench.stats import RatioCI

COMMITTED = Path(__file__).resolve().parents[1] / "reports"
BRACKET = re.compile(r"\[[^\[\]]*\d–\d[^\[\]]*\]")  # an interval "[a–b …]" (not a link's text)


def _brackets(text: str) -> list[str]:
    return BRACKET.findall(text)


def test_every_bracket_states_its_coverage(tmp_path: Path) -> None:
    pages = [p.read_text(encoding="utf-8") for p in COMMITTED.glob("*.md")]
    cells = [FixtureCell(framework="tensorflow", mode="function", median_s=0.012),
             FixtureCell(framework="tensorflow", mode="eager", median_s=0.020),
             FixtureCell(framework="torch", mode="eager", median_s=0.015),
             FixtureCell(framework="torch", mode="compile", median_s=0.011)]
    write_report([write_run(tmp_path / "run", cells, repeats=5, between_cv=0.03)], tmp_path / "out")
    pages += [p.read_text(encoding="utf-8") for p in (tmp_path / "out").glob("*.md")]
    found = [b for page in pages for b in _brackets(page)]
    assert len(found) > 20
    bare = [b for b in found if not re.search(r", \d+(\.\d)?%", b)]
    assert not bare, bare[:5]
    # the tuned ratio's bracket says it was widened for its candidates
    assert any("95%, Bonferroni ×" in b for b in found)
    assert fmt_ratio_ci(RatioCI(1.2, 1.1, 1.3, 3, "paired")) == "1.20× [1.10–1.30, 95%]"
    widened = RatioCI(1.2, 1.1, 1.3, 3, "paired", candidates=6)
    assert fmt_ratio_ci(widened) == "1.20× [1.10–1.30, 95%, Bonferroni ×6]"


def test_front_page_labels_on_the_committed_run() -> None:
    page = (COMMITTED / "README.md").read_text(encoding="utf-8")
    # each model's own steps and window, not the first model's for all
    assert "| steps | dcgan-mnist 5; dcgan-64 5; vae-mnist 10 |" in page
    assert "| window_steps | dcgan-mnist 3; dcgan-64 3; vae-mnist 10 |" in page
    # one machine id (the runs table's), the run's schema there, not environment.json's
    latest = max(p.name for p in (COMMITTED / "runs").iterdir() if p.is_dir())  # the front page's run
    runs = next(line for line in page.splitlines() if line.startswith(f"| `{latest}`"))
    assert "| quick | 5 |" in runs and re.search(r"\| [0-9a-f]{16} \|", runs)
    assert "fingerprint.hash" not in page and "| schema | 1 |" not in page
    # the batch a cell ran at, beside the model's own
    assert "| dcgan-64 | cpu | b16 (model default 128) |" in page and "| vae-mnist | cpu | b128 |" in page
    # the run measured its own noise: a 2-core machine whose processes differ by ~8%
    assert "**Caveat** — measured on 2 physical cores, likely a small or shared VM" in page
    assert "What each mode compiles" in page
    assert "TensorFlow `function` (its default on cpu): the whole train step" in page
    assert "PyTorch `compile`: the modules" in page


def test_no_caveat_on_a_large_quiet_machine(tmp_path: Path) -> None:
    env = {**ENVIRONMENT, "cpu": {**ENVIRONMENT["cpu"], "physical_cores": 32}}
    cells = [FixtureCell(framework="tensorflow", mode="function", median_s=0.012, cv=0.01),
             FixtureCell(framework="torch", mode="eager", median_s=0.015, cv=0.01)]
    run = write_run(tmp_path / "run", cells, repeats=3, between_cv=0.005, env=env)
    write_report([run], tmp_path / "out")
    assert "**Caveat**" not in (tmp_path / "out" / "README.md").read_text(encoding="utf-8")


def test_git_records_a_hash_of_the_uncommitted_diff(tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "f.txt").write_text("one\n")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    clean = git_info(repo)
    assert clean["dirty"] is False and clean["diff_sha256"] is None
    (repo / "f.txt").write_text("two\n")
    first = git_info(repo)
    assert first["dirty"] is True and re.fullmatch(r"[0-9a-f]{64}", first["diff_sha256"])
    assert git_info(repo)["diff_sha256"] == first["diff_sha256"]  # the same diff, the same hash
    (repo / "f.txt").write_text("three\n")
    assert git_info(repo)["diff_sha256"] != first["diff_sha256"]
