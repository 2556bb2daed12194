"""Loading and checking flow files: a broken library fails with a message naming file, line or key, problem."""

from __future__ import annotations

import shutil

import pytest

from flows.check import check_all
from flows.library import LibraryError, load_library
from flows.runtime import build

from .conftest import FIXTURES


@pytest.fixture
def flows(tmp_path):
    """A writable copy of the fixture flow library."""
    target = tmp_path / "flows"
    shutil.copytree(FIXTURES / "flows", target)
    return target


def edit(path, old, new):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new))


def problems_of(flows):
    with pytest.raises(LibraryError) as err:
        load_library(flows)
    return err.value.problems


def test_fixture_library_is_sound():
    assert check_all(build(FIXTURES / "flows", FIXTURES / "locales")) == []


def test_missing_target_names_file_line_key_and_target(flows):
    edit(flows / "danger.yaml", "go: steps}", "go: stepz}")
    assert problems_of(flows) == ["danger.yaml:10: danger.start.options.steps.go: unknown state 'stepz'"]


def test_missing_version(flows):
    edit(flows / "help.yaml", "version: 1\n", "")
    assert "help.yaml:1: version: missing; every data file starts with `version: 1`" in problems_of(flows)


def test_invalid_yaml_names_the_line(flows):
    (flows / "help.yaml").write_text("version: 1\nflow: help\nstates: [unclosed\n")
    assert any(p.startswith("help.yaml:4: not valid YAML") for p in problems_of(flows))


def test_flow_name_must_match_file(flows):
    edit(flows / "help.yaml", "flow: help", "flow: helps")
    assert "help.yaml:2: flow: 'helps' must equal the file name 'help'" in problems_of(flows)


def test_dead_end_state(flows):
    edit(flows / "main.yaml", "    options:\n      - {id: menu, label: common.opt_menu, go: menu}\n", "")
    assert "main.yaml:11: states.local: dead end: give it options or `any:`" in problems_of(flows)


def test_options_need_a_question_and_valid_ids(flows):
    edit(flows / "danger.yaml", "    ask: common.next_q\n    options:\n      - {id: steps",
         "    options:\n      - {id: Steps!")
    found = problems_of(flows)
    assert any("states.start.ask: a state with options must ask a question" in p for p in found)
    assert any("'Steps!' must be [a-z0-9_]+" in p for p in found)


def test_an_option_answer_is_yes_or_no(flows):
    edit(flows / "danger.yaml", "      - {id: steps", "      - {answer: maybe, id: steps")
    assert any("options[0].answer: must be one of ['no', 'yes']" in p for p in problems_of(flows))


def test_unknown_state_key_is_named(flows):
    edit(flows / "help.yaml", "    say: [help.info]", "    sya: [help.info]")
    assert any("states.start: unknown key(s) ['sya']" in p for p in problems_of(flows))


def test_duplicate_topic(flows):
    edit(flows / "danger.yaml", "topic: safety_planning", "topic: danger_now")
    assert any("'danger_now' is already on danger.start" in p for p in problems_of(flows))


def test_unreachable_state_is_reported(flows):
    edit(flows / "main.yaml", "      - {id: local, label: main.opt_local, go: local}\n", "")
    problems = check_all(build(flows, FIXTURES / "locales"))
    assert any("main.local: unreachable from welcome.start" in p for p in problems)


def test_state_that_cannot_reach_the_menu_is_reported(flows):
    edit(flows / "danger.yaml", "      - {id: menu, label: common.opt_menu, go: main.menu}\n  steps:",
         "      - {id: again, label: common.opt_menu, go: start}\n  steps:")
    edit(flows / "danger.yaml", "      - {id: menu, label: common.opt_menu, go: main.menu}\n",
         "      - {id: back, label: common.opt_menu, go: start}\n")
    problems = check_all(build(flows, FIXTURES / "locales"))
    assert any("danger.start: cannot reach main.menu" in p for p in problems)


def test_unknown_message_id_is_reported(flows):
    edit(flows / "help.yaml", "say: [help.info]", "say: [help.infoo]")
    problems = check_all(build(flows, FIXTURES / "locales"))
    assert any("help.infoo: message id not in the English catalog" in p for p in problems)


def test_unverified_service_must_be_guarded(flows):
    edit(flows / "main.yaml", "      - {msg: main.local_service, if: local_service}", "      - main.local_service")
    problems = check_all(build(flows, FIXTURES / "locales"))
    assert any("local_service is not verified or configured" in p for p in problems)


def test_configuration_naming_an_unknown_service_fails(flows):
    with pytest.raises(LibraryError, match="SERVICES.nope: no such service"):
        build(flows, FIXTURES / "locales", services={"nope": {"phone": "1"}})


def test_directory_entry_without_sources_fails(flows):
    edit(flows / "directory.yaml", "    sources: [https://example.org/ndah]\n", "    sources: []\n")
    with pytest.raises(LibraryError, match=r"services\[1\] \(ndah\).sources: every entry needs at least one source"):
        build(flows, FIXTURES / "locales")


def test_messages_no_flow_uses_are_checked_too(tmp_path):
    locales = tmp_path / "locales"
    shutil.copytree(FIXTURES / "locales", locales)
    po = locales / "en" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text() + '\nmsgid "sms.extra"\nmsgstr "Why didn\'t you call {nobody.phone}?"\n')
    problems = check_all(build(FIXTURES / "flows", locales))
    assert "locales/en: sms.extra: victim-blaming words: 'why didnt you'" in problems
    assert "locales/en: sms.extra: {nobody.phone} names no directory entry or field" in problems


@pytest.fixture
def locales(tmp_path):
    """A writable copy of the fixture catalogs (English and Polish)."""
    target = tmp_path / "locales"
    shutil.copytree(FIXTURES / "locales", target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def test_every_catalog_must_be_whole_and_true_to_english(locales):
    po = locales / "pl" / "LC_MESSAGES" / "messages.po"
    edit(po, 'msgstr "Co dalej?"', 'msgstr ""')  # untranslated
    edit(po, 'msgid "help.info"', '#, fuzzy\nmsgid "help.info"')
    edit(po, 'Zadzwoń teraz pod {emergency_999.phone}.', 'Zadzwoń teraz.')  # the number dropped
    edit(po, 'msgstr "Polski"\n', 'msgstr "polish"\n')
    edit(po, "nplurals=3; plural=(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)",
         "nplurals=2; plural=(n != 1)")
    po.write_text(po.read_text() + '\nmsgid "old.gone"\nmsgstr "Stare"\n')
    problems = check_all(build(FIXTURES / "flows", locales))
    for expected in (
        "locales/pl: common.next_q: not translated",
        "locales/pl: help.info: marked fuzzy: translate it and remove the flag",
        "locales/pl: help.info: not translated",
        "locales/pl: danger.call: placeholders [] differ from English",
        "locales/pl: language.name_pl: a language's own name is the same in every catalog",
        "locales/pl: old.gone: not in the English catalog (stale)",
    ):
        assert expected in problems
    assert any(p.startswith("locales/pl: Plural-Forms 'nplurals=2; plural=(n != 1);' differs from CLDR's") for p in problems)


def test_a_plural_message_needs_every_form_of_its_language(locales):
    po = locales / "pl" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text() + '\nmsgid "wait.minutes"\nmsgid_plural "wait.minutes"\n'
                  'msgstr[0] "minuta"\nmsgstr[1] "minuty"\nmsgstr[2] ""\n')
    assert "locales/pl: wait.minutes: needs 3 plural forms" in check_all(build(FIXTURES / "flows", locales))


def test_a_language_without_its_name_blaming_list_or_lexicon_is_reported(locales):
    shutil.copytree(locales / "pl", locales / "de")
    problems = check_all(build(FIXTURES / "flows", locales))
    assert "locales/en: language.name_de: missing, so de cannot be chosen by name" in problems
    assert "safety/blaming/de.yaml: missing: every language needs its victim-blaming list" in problems
    assert "safety/lexicons/de.yaml: missing: risks written in de would go unnoticed" in problems


def test_catalogs_are_compiled_at_start_and_fuzzy_words_never_shown(locales):
    po = locales / "pl" / "LC_MESSAGES" / "messages.po"
    edit(po, 'msgid "help.info"', '#, fuzzy\nmsgid "help.info"')
    mo = po.with_suffix(".mo")
    assert not mo.exists()
    rt = build(FIXTURES / "flows", locales)
    assert mo.exists() and "help.info" not in rt.catalogs.messages["pl"]  # English shows instead
    assert rt.catalogs.text("help.info", "pl") == "Reply with a number or a few words."
    edit(po, "Co dalej?", "I co dalej?")  # a newer .po is compiled again
    assert build(FIXTURES / "flows", locales).catalogs.text("common.next_q", "pl") == "I co dalej?"


def test_catalogs_load_from_a_read_only_folder(locales):
    (locales / "pl" / "LC_MESSAGES").chmod(0o555)
    try:
        rt = build(FIXTURES / "flows", locales)
    finally:
        (locales / "pl" / "LC_MESSAGES").chmod(0o755)
    assert rt.catalogs.text("common.next_q", "pl") == "Co dalej?"
    assert "help.info" in rt.catalogs.messages["pl"]


def test_a_new_persons_first_reply_at_risk_is_held_to_the_sms_budget(locales):
    po = locales / "en" / "LC_MESSAGES" / "messages.po"
    edit(po, 'msgstr "If a child is in danger now, call {emergency_999.phone}."',
         'msgstr "If a child is in danger now, call {emergency_999.phone}.' + " Please stay safe." * 17 + '"')
    problems = check_all(build(FIXTURES / "flows", locales))
    assert any(p.startswith("locales/en: common.risk_child: a new person's first reply at this risk costs 4 SMS")
               for p in problems), problems
