"""The `waymark` command line, run as a person would run it: as a real process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES

WAYMARK = str(Path(sys.executable).parent / "waymark")


def run(args, tmp_path, stdin="", fixture=False, **env):
    environ = {**os.environ, "WAYMARK_DATABASE": str(tmp_path / "var" / "w.db"), "WAYMARK_SECRET_KEY": "cli-test-secret"}
    if fixture:
        environ.update(WAYMARK_FLOWS_DIR=str(FIXTURES / "flows"), WAYMARK_LOCALES_DIR=str(FIXTURES / "locales"))
    environ.update(env)
    return subprocess.run([WAYMARK, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env=environ)


def test_help_lists_the_commands(tmp_path):
    out = run(["--help"], tmp_path).stdout
    for command in ("serve", "chat", "flows", "purge", "directory"):
        assert command in out


@pytest.mark.parametrize("fixture", [False, True], ids=["shipped", "fixture"])
def test_piped_chat_shows_the_welcome_with_999_and_how_to_exit(tmp_path, fixture):
    result = run(["chat"], tmp_path, "hi\nexit\n", fixture=fixture)
    assert result.returncode == 0, result.stderr
    first = result.stdout.split("> hi\n")[1].split("> exit")[0]
    assert "999" in first and "press 55 when you are asked" in first and "EXIT" in first


def test_piped_chat_walks_a_route(tmp_path):
    result = run(["chat"], tmp_path, "hi\n1\n1\nmenu\nexit\n", fixture=True)
    assert "Call 999 now." in result.stdout
    assert result.stdout.rstrip().endswith("This chat has been deleted.")


def test_a_name_typed_in_chat_is_nowhere_on_disk(tmp_path):
    name = "Zebedee Quillfeather-Okonkwo"
    result = run(["chat"], tmp_path, f"hi\nmy name is {name}\n1\n{name}\n", fixture=False)
    assert result.returncode == 0, result.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "w.db" for p in written)
    for path in written:
        data = path.read_bytes()
        assert b"Zebedee" not in data and b"Quillfeather" not in data, path
    assert "Zebedee" not in result.stderr


def test_flows_check_passes_on_the_shipped_flows(tmp_path):
    result = run(["flows", "check"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: ")


def test_flows_check_fails_clearly_on_a_broken_copy(tmp_path):
    broken = tmp_path / "flows"
    shutil.copytree(FIXTURES / "flows", broken)
    path = broken / "danger.yaml"
    path.write_text(path.read_text().replace("go: steps}", "go: nowhere}").replace("[danger.call]", "[danger.cal]"))
    result = run(["flows", "check"], tmp_path, fixture=True, WAYMARK_FLOWS_DIR=str(broken))
    assert result.returncode != 0
    assert "danger.yaml:10: danger.start.options.steps.go: unknown state 'nowhere'" in result.stderr
    assert "Traceback" not in result.stderr


def test_flows_check_reports_an_unknown_message_id(tmp_path):
    broken = tmp_path / "flows"
    shutil.copytree(FIXTURES / "flows", broken)
    path = broken / "danger.yaml"
    path.write_text(path.read_text().replace("[danger.call]", "[danger.cal]"))
    result = run(["flows", "check"], tmp_path, fixture=True, WAYMARK_FLOWS_DIR=str(broken))
    assert result.returncode != 0
    assert "danger.cal: message id not in the English catalog" in result.stderr


def test_flows_graph_is_mermaid(tmp_path):
    out = run(["flows", "graph"], tmp_path, fixture=True).stdout
    assert out.startswith("flowchart TD")
    assert "main__menu -->|danger| danger__start" in out


def test_purge_by_hand(tmp_path):
    result = run(["purge"], tmp_path, fixture=True)
    assert result.returncode == 0 and "purged 0 idle conversation(s)" in result.stdout


def test_directory_check_lists_unverified_and_stale_entries(tmp_path):
    out = run(["directory", "check"], tmp_path, fixture=True).stdout
    assert "local_service: unverified" in out
    assert "local_service: last checked 2025-01-01, more than 6 months ago" in out
    assert "ndah" not in out


def test_flows_export_holds_every_state_and_the_right_numbers(tmp_path):
    result = run(["flows", "export", "--out", str(tmp_path / "review")], tmp_path)
    assert result.returncode == 0, result.stderr
    from flows.runtime import build

    runtime = build()
    markdown = (tmp_path / "review" / "review.md").read_text()
    page = (tmp_path / "review" / "review.html").read_text()
    for name in runtime.library.states:
        assert f"### {name}" in markdown and f"id='{name}'" in page
    for sid in ("emergency_999", "ndah", "rape_crisis_247", "havens", "samaritans", "childline", "respect_phoneline"):
        assert runtime.services[sid].phone in markdown, sid
    assert "<script" not in page


def test_the_catalog_workflow_extracts_completes_updates_and_compiles(tmp_path):
    """`make catalogs`, step by step, on a copy of the fixture catalogs."""
    locales = tmp_path / "locales"
    shutil.copytree(FIXTURES / "locales", locales, ignore=shutil.ignore_patterns("*.mo"))
    pybabel = str(Path(sys.executable).parent / "pybabel")
    pot = tmp_path / "messages.pot"
    root = Path(__file__).resolve().parents[1]
    extract = subprocess.run([pybabel, "extract", "--mapping-file", str(root / "babel.cfg"), "--keyword", "Message",
                              "--output-file", str(pot), "."], cwd=FIXTURES.parent.parent, capture_output=True, text=True)
    assert extract.returncode == 0, extract.stderr
    assert 'msgid "main.opt_danger"' in pot.read_text()  # from a flow file, by the registered extractor
    # Extracted from the shipped flows, checked against the small fixture catalog: ids without English are listed.
    result = run(["flows", "template", str(pot)], tmp_path, fixture=True, WAYMARK_LOCALES_DIR=str(locales))
    assert result.returncode != 0 and "young.threats: used in the code or flows but not in locales/en" in result.stderr
    text = pot.read_text()
    assert 'msgid "topic.safety_planning"' in text  # built at run time, so only English names it
    assert "#. English: What next?" in text and 'msgid "young.threats"' not in text
    (locales / "en" / "LC_MESSAGES" / "messages.po").write_text(
        (locales / "en" / "LC_MESSAGES" / "messages.po").read_text() + '\nmsgid "new.line"\nmsgstr "A new line."\n')
    result = run(["flows", "template", str(pot)], tmp_path, fixture=True, WAYMARK_LOCALES_DIR=str(locales))
    assert 'msgid "new.line"' in pot.read_text()
    update = subprocess.run([pybabel, "update", "--locale", "pl", "--input-file", str(pot), "--output-dir", str(locales),
                             "--no-wrap", "--no-fuzzy-matching"], capture_output=True, text=True)
    assert update.returncode == 0, update.stderr
    polish = (locales / "pl" / "LC_MESSAGES" / "messages.po").read_text()
    assert 'msgid "new.line"\nmsgstr ""' in polish and 'msgstr "Co dalej?"' in polish  # new: to translate; old: kept
    check = run(["flows", "check"], tmp_path, fixture=True, WAYMARK_LOCALES_DIR=str(locales))
    assert "locales/pl: new.line: not translated" in check.stderr


def test_model_train_leaves_models_whose_messages_have_not_changed(tmp_path):
    models = Path(__file__).resolve().parents[1] / "safety" / "model"
    before = {p.name: p.stat().st_mtime_ns for p in models.glob("*.npz")}
    out = run(["model", "train"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert sorted(line.split(":")[0] for line in out.stdout.splitlines()) == sorted(n[:-4] for n in before)
    assert all("up to date" in line for line in out.stdout.splitlines())
    assert {p.name: p.stat().st_mtime_ns for p in models.glob("*.npz")} == before
