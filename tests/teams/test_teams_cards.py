"""Every view the core has, rendered for Teams, follows the Adaptive Card 1.5 schema and fits in a message."""

from __future__ import annotations

import json

import pytest

from bot.core.views import (Answer, Notice, Progress, Question, SkillList, SkillOffer, SkillRunReport, SkillSummary)
from bot.surfaces.teams_cards import (CARD_BYTES_LIMIT, answered_question, card_json, form_arguments, render,
                                      run_form)
from tests.teams.fake_connector import card_problems

PARAMETERS = [{"name": "days_back", "type": "int", "default": 15, "required": False, "description": ""},
              {"name": "extensions", "type": "list[str]", "default": ["pdf", "xlsx"], "required": False},
              {"name": "dry", "type": "bool", "default": False, "required": False},
              {"name": "folder", "type": "str", "default": None, "required": True, "description": "Where to"}]
SKILL = SkillSummary("save_email_attachments", "Save attachments", 2, PARAMETERS)
ROWS = [{"file": f"Email Attachments/Fabrikam/invoice-{n}.pdf", "from": "ap@fabrikam.com", "size": n * 1000}
        for n in range(60)]

VIEWS = {
    "progress": Progress("Working…", [{"content": "List mail", "status": "done"},
                                      {"content": "Upload", "status": "in_progress"}]),
    "progress-done": Progress("Done", [{"content": "List mail", "status": "done"}], finished=True),
    "question": Question("Shall I go ahead?", ["Yes, go ahead", "No, cancel"]),
    "answer": Answer("Saved 60 files.", {"saved": 60, "files": ROWS}, SkillOffer(7, "save_email_attachments", 1, PARAMETERS),
                     {"input_tokens": 12_300, "output_tokens": 900}),
    "answer-new-version": Answer("Done", None, SkillOffer(7, "save_email_attachments", 2, PARAMETERS, "- a\n+ b")),
    "answer-scalar": Answer("42", 42),
    "huge": Answer("Big", [{f"column{c}": "x" * 190 for c in range(10)} for _ in range(400)]),
    "report-ok": SkillRunReport("save_email_attachments", 1, True, {"saved": 3, "files": ROWS[:3]}, "", None, 1234.0),
    "report-failed": SkillRunReport("save_email_attachments", 1, False, None, "", "Traceback …", 10.0),
    "list": SkillList([SKILL]),
    "list-empty": SkillList([]),
    "notice": Notice("Saved."),
    "error": Notice("No such skill.", error=True),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_each_view_is_a_valid_card_within_the_size_limit(name: str) -> None:
    card = json.loads(card_json(render(VIEWS[name], "1763700000100")))
    assert card_problems(card) == []
    assert card["version"] == "1.5" and card["fallbackText"]
    assert len(json.dumps(card)) <= CARD_BYTES_LIMIT


def test_buttons_carry_their_verb_and_thread() -> None:
    card = json.loads(card_json(render(VIEWS["answer"], "1763700000100")))
    save = card["body"][-2]["actions"][0]
    assert save["type"] == "Action.Execute" and save["title"] == "Save as skill: save_email_attachments"
    assert save["data"] == {"offer": "7:1", "thread": "1763700000100"}
    table = next(e for e in card["body"] if e["type"] == "Table")
    assert len(table["rows"]) == 21   # the header and the first 20 rows; the rest is counted below it


def test_oversized_results_are_cut_to_fit() -> None:
    card = json.loads(card_json(render(VIEWS["huge"], "")))
    assert "rows cut to fit" in json.dumps(card)


def test_run_form_and_answered_question_are_valid() -> None:
    form = json.loads(card_json(run_form(SKILL, "")))
    assert card_problems(form) == []
    inputs = {e["id"]: e for e in form["body"] if e["type"].startswith("Input.")}
    assert inputs["param_days_back"]["type"] == "Input.Number" and inputs["param_days_back"]["value"] == 15
    assert inputs["param_extensions"]["value"] == "pdf,xlsx" and inputs["param_dry"]["type"] == "Input.Toggle"
    assert inputs["param_folder"]["isRequired"] is True
    assert card_problems(json.loads(card_json(answered_question("Go?", "Yes")))) == []


def test_form_arguments_skip_empty_inputs_and_normalize_numbers() -> None:
    data = {"skill": "s", "thread": "", "param_days_back": 30.0, "param_folder": "  ", "param_dry": "true",
            "param_extensions": "pdf,docx"}
    assert form_arguments(data) == [("days_back", "30"), ("dry", "true"), ("extensions", "pdf,docx")]


def test_the_schema_catches_properties_teams_1_5_does_not_know() -> None:
    card = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "Table", "firstRowAsHeaders": True}]}
    assert card_problems(card)
