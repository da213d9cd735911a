"""Parameters read from a skill's ``async def run`` and arguments typed in chat."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from skills_db import (
    ArgumentError,
    SkillCodeError,
    SkillParameter,
    coerce_arguments,
    extract_parameters,
    parse_arguments,
)

CASE_STUDY = '''
import asyncio

async def run(days_back: int = 15, own_domain: str = "contoso.com",
              extensions: list[str] = ["pdf", "xlsx"], root_folder: str = "Email Attachments") -> dict:
    """Copy recent external attachments to OneDrive, one folder per company.

    Args:
        days_back: how many days of mail to look at.
        own_domain: mail from this domain is ignored.
        extensions: file types to keep,
            without the dot.
    """
    return {}
'''


def test_case_study_signature_becomes_four_optional_parameters() -> None:
    parameters = extract_parameters(CASE_STUDY)

    assert parameters == [
        SkillParameter("days_back", "int", 15, False, "how many days of mail to look at."),
        SkillParameter("own_domain", "str", "contoso.com", False, "mail from this domain is ignored."),
        SkillParameter("extensions", "list[str]", ["pdf", "xlsx"], False, "file types to keep, without the dot."),
        SkillParameter("root_folder", "str", "Email Attachments", False, ""),
    ]


def test_parameters_round_trip_through_dicts() -> None:
    parameters = extract_parameters(CASE_STUDY)
    assert [SkillParameter.from_dict(parameter.to_dict()) for parameter in parameters] == parameters


def test_required_optional_and_every_supported_type() -> None:
    code = (
        "import datetime as dt\n"
        "async def run(since: date, *, until: 'datetime | None' = None, ratio: float = 0.5,\n"
        "              dry_run: bool = True, ids: list[int] = [1, 2], tags: Optional[list[str]] = None,\n"
        "              start: datetime.date = '2026-01-01', note: None | str = None) -> None:\n"
        "    pass\n"
    )
    parameters = {parameter.name: parameter for parameter in extract_parameters(code)}

    assert {name: parameter.type for name, parameter in parameters.items()} == {
        "since": "date",
        "until": "datetime | None",
        "ratio": "float",
        "dry_run": "bool",
        "ids": "list[int]",
        "tags": "list[str] | None",
        "start": "date",
        "note": "str | None",
    }
    assert parameters["since"].required and parameters["since"].default is None
    assert not parameters["until"].required


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("x = 1\n", "no top-level `async def run(...)` found"),
        ("def run(days_back: int = 1):\n    pass\n", "`run` must be a coroutine: write `async def run(...)`"),
        ("async def run():\n    pass\nasync def run():\n    pass\n", "`async def run` is defined 2 times (lines 1, 3)"),
        ("class Job:\n    async def run(self):\n        pass\n", "no top-level `async def run(...)` found"),
        ("async def run(days_back: int = 1\n", "the skill's code does not parse"),
        ("async def run(*names: str):\n    pass\n", "`*names` is not allowed"),
        ("async def run(**options: str):\n    pass\n", "`**options` is not allowed"),
        ("async def run(a: int, /):\n    pass\n", "parameters a are positional-only (before `/`)"),
        ("async def run(days_back=15):\n    pass\n", "parameter 'days_back' has no type annotation"),
        ("async def run(options: dict = {}):\n    pass\n", "parameter 'options' has type `dict`, which a skill"),
        ("async def run(n: int | str = 1):\n    pass\n", "parameter 'n' has type `int | str`"),
        ("async def run(xs: list[float] = []):\n    pass\n", "parameter 'xs' has type `list[float]`"),
        ("async def run(n: int = 3 * DAYS):\n    pass\n", "parameter 'n' has default `3 * DAYS`, which is not a"),
        ("async def run(n: int = None):\n    pass\n", "write `n: int | None = None`"),
        ("async def run(n: int = '7'):\n    pass\n", "parameter 'n' has default '7', which is not a whole number"),
        ("async def run(flag: bool = 1):\n    pass\n", "parameter 'flag' has default 1, which is not yes or no"),
        ("async def run(day: date = 'soon'):\n    pass\n", "parameter 'day' has default 'soon', which is not a date"),
        ("async def run(ids: list[int] = ['a']):\n    pass\n", "parameter 'ids' has default ['a']"),
    ],
)
def test_unusable_code_is_refused_with_the_reason(code: str, message: str) -> None:
    with pytest.raises(SkillCodeError) as raised:
        extract_parameters(code)
    assert message in str(raised.value)


def test_every_problem_of_a_signature_is_reported_at_once() -> None:
    with pytest.raises(SkillCodeError) as raised:
        extract_parameters("async def run(a, b: dict, c: int = f()):\n    pass\n")
    assert len(raised.value.problems) == 3
    assert str(raised.value).splitlines() == raised.value.problems


# ------------------------------------------------------------------------------------------ parsing


def test_parse_arguments_groups_quoted_values() -> None:
    assert parse_arguments("days_back=7 root_folder=\"Email Attachments\" own_domain='a b.com' empty=") == {
        "days_back": "7",
        "root_folder": "Email Attachments",
        "own_domain": "a b.com",
        "empty": "",
    }


def test_parse_arguments_accepts_typographic_quotes_from_chat_clients() -> None:
    assert parse_arguments("root_folder=\u201cEmail Attachments\u201d note=\u2018it is\u2019") == {
        "root_folder": "Email Attachments",
        "note": "it is",
    }


def test_parse_arguments_of_nothing_is_empty() -> None:
    assert parse_arguments("   ") == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("days_back=7 weekly", "'weekly' is not of the form key=value; write arguments as key=value"),
        ('root_folder="Email Attachments', "unbalanced quotes in"),
        ("=7", "'' in '=7' is not a parameter name"),
        ("days-back=7", "'days-back' in 'days-back=7' is not a parameter name"),
        ("days_back=1 days_back=2", "days_back is given twice"),
    ],
)
def test_parse_arguments_errors_name_the_token(text: str, message: str) -> None:
    with pytest.raises(ArgumentError) as raised:
        parse_arguments(text)
    assert message in str(raised.value)
    assert raised.value.missing == []


# ----------------------------------------------------------------------------------------- coercion


@pytest.fixture
def case_study() -> list[SkillParameter]:
    return extract_parameters(CASE_STUDY)


def test_coerce_fills_defaults_and_converts_given_values(case_study: list[SkillParameter]) -> None:
    values = coerce_arguments(case_study, parse_arguments('days_back=7 extensions=pdf,docx root_folder="Mail Files"'))
    assert values == {
        "days_back": 7,
        "own_domain": "contoso.com",
        "extensions": ["pdf", "docx"],
        "root_folder": "Mail Files",
    }


def test_defaults_are_fresh_copies(case_study: list[SkillParameter]) -> None:
    first = coerce_arguments(case_study, {})
    first["extensions"].append("exe")
    assert coerce_arguments(case_study, {})["extensions"] == ["pdf", "xlsx"]


@pytest.mark.parametrize(
    ("type_text", "raw", "expected"),
    [
        ("int", "7", 7),
        ("int", " 42 ", 42),
        ("float", "2.5", 2.5),
        ("bool", "yes", True),
        ("bool", "TRUE", True),
        ("bool", "1", True),
        ("bool", "no", False),
        ("bool", "false", False),
        ("str", " spaced ", " spaced "),
        ("date", "2026-11-01", date(2026, 11, 1)),
        ("datetime", "2026-11-01T09:30", datetime(2026, 11, 1, 9, 30)),
        ("list[str]", "a, b,,c", ["a", "b", "c"]),
        ("list[str]", '["a,b", "c"]', ["a,b", "c"]),
        ("list[int]", "1,2,3", [1, 2, 3]),
        ("list[int]", "[4, 5]", [4, 5]),
        ("int | None", "none", None),
        ("int | None", "", None),
        ("int | None", "3", 3),
        ("date | None", "null", None),
    ],
)
def test_values_are_converted_to_their_type(type_text: str, raw: str, expected: object) -> None:
    parameter = SkillParameter("value", type_text, None, True)
    assert coerce_arguments([parameter], {"value": raw}) == {"value": expected}


@pytest.mark.parametrize(
    ("type_text", "raw", "message"),
    [
        ("int", "abc", "value must be a whole number, got 'abc'"),
        ("int", "7.5", "value must be a whole number, got '7.5'"),
        ("int", "", "value must be a whole number, got ''"),
        ("float", "lots", "value must be a number, got 'lots'"),
        ("bool", "maybe", "value must be yes or no (true/false), got 'maybe'"),
        ("date", "2026-13-01", "value must be a date like 2026-11-01, got '2026-13-01'"),
        ("date", "tomorrow", "value must be a date like 2026-11-01, got 'tomorrow'"),
        ("datetime", "noon", "value must be a date and time like 2026-11-01T09:30, got 'noon'"),
        ("list[int]", "1,two", "value must be a list of whole numbers like 1,2,3, got '1,two'"),
        ("list[str]", "[unclosed", "value must be a list like a,b,c, got '[unclosed'"),
        ("list[str]", "[1, 2]", "value must be a list like a,b,c, got '[1, 2]'"),
        ("int | None", "many", "value must be a whole number, or none, got 'many'"),
    ],
)
def test_bad_values_are_reported_readably(type_text: str, raw: str, message: str) -> None:
    with pytest.raises(ArgumentError) as raised:
        coerce_arguments([SkillParameter("value", type_text, None, True)], {"value": raw})
    assert raised.value.problems == [message]
    assert raised.value.missing == []


def test_unknown_and_missing_and_bad_are_all_reported_one_per_line() -> None:
    parameters = [
        SkillParameter("since", "date", None, True),
        SkillParameter("folder", "str", None, True),
        SkillParameter("days_back", "int", 15, False),
    ]
    with pytest.raises(ArgumentError) as raised:
        coerce_arguments(parameters, {"dayz_back": "3", "colour": "red", "days_back": "abc"})

    assert str(raised.value).splitlines() == [
        "unknown parameter 'dayz_back' (did you mean days_back?); this skill takes: since, folder, days_back",
        "unknown parameter 'colour'; this skill takes: since, folder, days_back",
        "since is required (a date like 2026-11-01); add since=...",
        "folder is required (text); add folder=...",
        "days_back must be a whole number, got 'abc'",
    ]
    assert raised.value.missing == ["since", "folder"]


def test_a_skill_without_parameters_says_so() -> None:
    with pytest.raises(ArgumentError, match="unknown parameter 'x'; this skill takes no parameters"):
        coerce_arguments([], {"x": "1"})


def test_typed_arguments_survive_the_trip_through_text() -> None:
    """Job payloads and run records carry arguments as text: coercing that text gives the same values back."""
    from datetime import date

    from skills_db.params import argument_text

    params = [SkillParameter("n", "int", 1, False), SkillParameter("on", "bool", False, False),
              SkillParameter("since", "date | None", None, False), SkillParameter("tags", "list[str]", [], False),
              SkillParameter("note", "str | None", None, False)]
    typed = {"n": 7, "on": True, "since": date(2026, 11, 1), "tags": ["a b", "c,d"], "note": None}
    assert coerce_arguments(params, {k: argument_text(v) for k, v in typed.items()}) == typed
