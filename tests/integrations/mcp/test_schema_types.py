"""MCP tool schemas -> Python types and signatures, argument validation, and the types at work in a sandbox."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from integrations.errors import ToolError
from integrations.mcp.schema_types import ModelNames, McpToolTypes, tool_types, validate_arguments, validate_result
from integrations.type_source import dataclasses_source
from sandbox.session import SubprocessSession
from sandbox.worker import TYPES_PRELUDE

SCHEMAS = Path(__file__).parent / "schemas"
TABLE = sorted(SCHEMAS.glob("*.json"))


def load(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.json").read_text())


def types_of(row: dict[str, Any], names: ModelNames | None = None) -> McpToolTypes:
    return tool_types(row["function"], row["inputSchema"], row["outputSchema"], names=names or ModelNames())


def problems(function: str, schema: dict, arguments: dict) -> str:
    with pytest.raises(ToolError) as raised:
        validate_arguments(function, schema, arguments)
    return str(raised.value)


# ---------------------------------------------------------------- the table of real servers' schemas


def test_the_table_holds_twenty_real_tools_each_with_its_source() -> None:
    assert len(TABLE) >= 20
    for path in TABLE:
        row = json.loads(path.read_text())
        assert row["source"].strip(), path.name
        assert set(row["expected"]) == {"signature", "types", "notes"}, path.name


@pytest.mark.parametrize("path", TABLE, ids=lambda p: p.stem)
def test_a_real_schema_gives_the_expected_signature_types_and_notes(path: Path) -> None:
    row = json.loads(path.read_text())
    types = types_of(row)
    assert types.signature == row["expected"]["signature"]
    assert dataclasses_source(list(types.models)).splitlines() == row["expected"]["types"]
    assert list(types.notes) == row["expected"]["notes"]
    namespace: dict[str, Any] = {}  # what the sandbox does with them: the types and the signature are Python
    exec(TYPES_PRELUDE + dataclasses_source(list(types.models)), namespace)
    exec(types.signature + ":\n    pass\n", namespace)


def test_the_table_covers_every_kind_of_schema_the_issue_names() -> None:
    signatures = {p.stem: json.loads(p.read_text())["expected"]["signature"] for p in TABLE}
    text = "\n".join(signatures.values())
    assert "Literal[" in text  # enums
    assert "list[GithubPushFilesFilesItem]" in signatures["github_push_files"]  # arrays of objects
    assert "target: UserTarget | TeamTarget" in signatures["tickets_assign_ticket"]  # oneOf
    assert "-> GithubPushFilesResult | None" in signatures["github_push_files"]  # nullable, nested object
    assert "due: date | None = None" in signatures["tickets_create_ticket"]  # formats, optional fields
    assert "edits: list[EditOperation]" in signatures["filesystem_edit_file"]  # $ref / $defs
    assert load("filesystem_directory_tree")["expected"]["types"][-1] == "    children: '(list[TreeEntry] | None)' = None"
    assert "    from_: str  # The name of the entity where the relation starts" in load("memory_create_relations")["expected"]["types"]


# ---------------------------------------------------------------- schema features one at a time


def test_names_that_are_not_python_get_safe_names_and_travel_under_the_servers_names() -> None:
    schema = {
        "type": "object",
        "properties": {
            "from": {"type": "string"},
            "user-id": {"type": "integer"},
            "2fa": {"type": "boolean"},
            "schema": {"type": "string"},
            "meta": {"type": "object", "properties": {"_links": {"type": "string"}, "date": {"type": "string", "format": "date"}},
                     "required": ["_links"]},
        },
        "required": ["from"],
    }
    types = tool_types("crm__find", schema, None, names=ModelNames())
    assert types.signature == (
        "async def crm__find(from_: str, user_id: int | None = None, field_2fa: bool | None = None, "
        "schema_: str | None = None, meta: CrmFindMeta | None = None) -> dict[str, Any] | str"
    )
    assert dataclasses_source(list(types.models)) == (
        "@dataclass\nclass CrmFindMeta:\n    links_: str\n    date_: date | None = None\n"
    )
    assert "from_ = 'from', user_id = 'user-id', field_2fa = '2fa', schema_ = 'schema'" in types.notes[-1]
    wire = types.python_to_wire({"from_": "a", "user_id": None, "field_2fa": True, "schema_": "public",
                                 "meta": {"links_": "x", "date_": None}})
    assert wire == {"from": "a", "2fa": True, "schema": "public", "meta": {"_links": "x"}}
    validate_arguments("crm__find", schema, wire)


def test_a_result_with_server_names_is_renamed_for_the_sandbox() -> None:
    output = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"from": {"type": "string"}, "class": {"type": "string"}}}}}}
    types = tool_types("mail__list", {"type": "object"}, output, names=ModelNames())
    assert types.signature == "async def mail__list() -> MailListResult"
    assert types.wire_to_python({"items": [{"from": "a@b", "class": "x", "new": 1}]}) == {
        "items": [{"from_": "a@b", "class_": "x", "new": 1}]
    }


def test_a_required_field_that_allows_null_sends_null_and_an_optional_one_is_left_out() -> None:
    schema = {"type": "object", "properties": {"due": {"type": ["string", "null"], "format": "date"},
                                               "note": {"type": "string"}}, "required": ["due"]}
    types = tool_types("tasks__set_due", schema, None, names=ModelNames())
    assert types.signature.startswith("async def tasks__set_due(due: date | None, note: str | None = None)")
    assert types.python_to_wire({"due": None, "note": None}) == {"due": None}


def test_mutually_recursive_refs_and_allof_merges_become_models() -> None:
    output = {
        "$defs": {
            "Folder": {"type": "object", "properties": {"name": {"type": "string"},
                                                        "files": {"type": "array", "items": {"$ref": "#/$defs/File"}}},
                       "required": ["name"]},
            "File": {"type": "object", "properties": {"name": {"type": "string"}, "parent": {"$ref": "#/$defs/Folder"}}},
            "Stamped": {"type": "object", "properties": {"modified": {"type": "string", "format": "date-time"}}},
        },
        "allOf": [{"$ref": "#/$defs/Stamped"}, {"type": "object", "properties": {"root": {"$ref": "#/$defs/Folder"}},
                                                  "required": ["root"]}],
    }
    types = tool_types("drive__tree", {"type": "object"}, output, names=ModelNames())
    assert types.signature == "async def drive__tree() -> DriveTreeResult"
    assert dataclasses_source(list(types.models)) == (
        "@dataclass\nclass File:\n    name: str | None = None\n    parent: '(Folder | None)' = None\n\n\n"
        "@dataclass\nclass Folder:\n    name: str\n    files: '(list[File] | None)' = None\n\n\n"
        "@dataclass\nclass DriveTreeResult:\n    root: Folder\n    modified: datetime | None = None\n"
    )
    assert types.notes == ()


def test_what_cannot_be_typed_becomes_any_or_a_dict_and_is_said() -> None:
    schema = {
        "type": "object",
        "properties": {
            "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]},
            "headers": {"type": "object", "patternProperties": {"^X-": {"type": "string"}}},
            "shape": {"allOf": [{"type": "string"}, {"minLength": 2}, {"type": "integer"}]},
            "remote": {"$ref": "https://example.com/schemas/thing.json"},
            "broken": {"$ref": "#/$defs/Missing"},
            "ratio": {"enum": [0.5, 1.5]},
        },
    }
    types = tool_types("geo__plot", schema, None, names=ModelNames())
    assert types.signature == (
        "async def geo__plot(point: list[Any] | None = None, headers: dict[str, Any] | None = None, shape: Any = None, "
        "remote: Any = None, broken: Any = None, ratio: Any = None) -> dict[str, Any] | str"
    )
    assert types.notes[:6] == (
        "argument 'point': it is a tuple (items by position), typed as list[Any]",
        "argument 'headers': its keys follow patterns (patternProperties), typed as dict[str, Any]",
        "argument 'shape': it combines schemas (allOf) in a way that is not a merge of objects, typed as Any",
        "argument 'remote': it refers to another document ('https://example.com/schemas/thing.json'), typed as Any",
        "argument 'broken': its reference '#/$defs/Missing' points nowhere, typed as Any",
        "argument 'ratio': its allowed values ([0.5, 1.5]) cannot be a Literal; checked when called",
    )


def test_enums_with_null_consts_and_maps() -> None:
    schema = {"type": "object", "properties": {
        "state": {"enum": ["open", "closed", None]},
        "kind": {"const": "bug"},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
    }, "required": ["state", "kind", "counts"]}
    types = tool_types("issues__count", schema, None, names=ModelNames())
    assert types.signature == (
        'async def issues__count(state: Literal["open", "closed"] | None, kind: Literal["bug"], '
        "counts: dict[str, int]) -> dict[str, Any] | str"
    )


def test_descriptions_and_titles_cannot_break_the_generated_source() -> None:
    output = {"type": "object", "title": "None", "description": 'Ends with a quote" and \\N{oops} """ here',
              "properties": {"a": {"type": "string", "description": "line one\nimport os\n  line three"}}}
    types = tool_types("evil__tool", {"type": "object"}, output, names=ModelNames())
    source = dataclasses_source(list(types.models))
    assert "class NoneModel:" in source
    assert "    a: str | None = None  # line one import os line three\n" in source
    namespace: dict[str, Any] = {}
    exec(TYPES_PRELUDE + source, namespace)
    assert namespace["NoneModel"].__doc__ == 'Ends with a quote" and \\N{oops} """ here'


def test_tools_typed_together_share_a_type_when_it_is_the_same_and_never_a_name_when_it_is_not() -> None:
    names = ModelNames()
    issue = {"type": "object", "title": "Issue", "properties": {"number": {"type": "integer"}}, "required": ["number"]}
    other_issue = {"type": "object", "title": "Issue", "properties": {"key": {"type": "string"}}, "required": ["key"]}
    first = tool_types("github__get_issue", {"type": "object"}, issue, names=names)
    second = tool_types("github__update_issue", {"type": "object"}, issue, names=names)
    third = tool_types("jira__get_issue", {"type": "object"}, other_issue, names=names)
    assert first.result is second.result
    assert third.signature == "async def jira__get_issue() -> JiraGetIssueIssue"
    assert {m.__name__ for m in (*first.models, *third.models)} == {"Issue", "JiraGetIssueIssue"}


def test_typing_an_unchanged_tool_again_gives_the_same_types_and_a_changed_one_new_types() -> None:
    names = ModelNames()
    row = load("tickets_create_ticket")
    first = types_of(row, names)
    assert types_of(row, names) is first
    changed = json.loads(json.dumps(row))
    changed["outputSchema"]["properties"]["status"] = {"type": "string"}
    again = types_of(changed, names)
    assert again is not first
    assert again.signature.endswith("-> TicketsCreateTicketCreateTicketResult")  # the name was taken by another type


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": ["string", "integer", "array", "object", "null"]}}},
    {"type": "object", "properties": {"a": {"enum": []}, "b": {"type": "strin"}, "c": False, "d": {"items": False}}},
    {"type": "object", "properties": "nonsense", "required": "a"},
    {"type": "object", "properties": {"a": {"$ref": "#"}, "b": {"default": float("inf"), "type": "number"}}},
    {"$ref": "#/$defs/Args", "$defs": {"Args": {"type": "object", "properties": {"n": {"$ref": "#/$defs/Args/properties/n"}}}}},
    {"anyOf": [{"type": "object", "properties": {"path": {"type": "string"}}}, {"type": "object", "properties": {"url": {"type": "string"}}}]},
    {"type": "object", "properties": {"a": {"allOf": [{"$ref": "#/$defs/X"}], "description": "one ref in allOf"}},
     "$defs": {"X": {"type": "object", "title": "X", "properties": {"x": {"type": "integer"}}}}},
    [],
], ids=["many-types", "odd-values", "not-objects", "root-ref-and-inf", "self-ref-non-object", "argument-sets", "allof-one-ref", "list"])
def test_odd_schemas_still_give_a_signature_the_sandbox_can_define(schema: Any) -> None:
    types = tool_types("odd__tool", schema, schema if isinstance(schema, dict) else None, names=ModelNames())
    namespace: dict[str, Any] = {}
    exec(TYPES_PRELUDE + dataclasses_source(list(types.models)), namespace)
    exec(types.signature + ":\n    pass\n", namespace)


def test_a_function_name_that_is_not_python_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Python function name"):
        tool_types("tickets__create-ticket", {"type": "object"}, None)


# ---------------------------------------------------------------- validation against the server's schema


def test_a_wrong_call_is_rejected_with_every_problem_named_by_its_field_in_order() -> None:
    schema = load("github_push_files")["inputSchema"]
    message = problems("github__push_files", schema, {
        "owner": "octo", "repo": 7, "branch": "main", "message": "m",
        "files": [{"path": "a.txt", "content": "x"}, {"content": "y", "mode": "777"}, {"path": "c", "content": "z", "size": 1}],
    })
    assert message == (
        "github__push_files: argument 'files[1].mode': '777' is not one of '100644', '100755'; "
        "argument 'files[1].path': missing (required); "
        "argument 'files[2].size': not accepted (accepted: content, mode, path); "
        "argument 'repo': expected str, got 7"
    )


def test_missing_and_unknown_top_level_arguments_are_named() -> None:
    schema = load("playwright_browser_click")["inputSchema"]  # draft-07, additionalProperties: false
    message = problems("playwright__browser_click", schema, {"element": "OK button", "button": "left", "colour": "red"})
    assert message == (
        "playwright__browser_click: argument 'colour': not accepted (accepted: button, doubleClick, element, modifiers, ref); "
        "argument 'ref': missing (required)"
    )


def test_an_enum_and_a_nested_array_item_are_named() -> None:
    message = problems("tickets__create_ticket", load("tickets_create_ticket")["inputSchema"],
                       {"title": "Printer", "priority": "urgent", "labels": ["a", 3]})
    assert message == (
        "tickets__create_ticket: argument 'labels[1]': expected str, got 3; "
        "argument 'priority': 'urgent' is not one of 'low', 'high'"
    )


def test_formats_are_checked_and_a_date_time_needs_a_time_zone() -> None:
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"due": {"type": "string", "format": "date-time"},
                                         "day": {"type": "string", "format": "date"}}}}}}
    message = problems("todo__plan", schema, {"items": [{"due": "2026-12-01T09:00:00Z"}, {"day": "2026-02-30"},
                                                        {"due": "2026-12-01T09:00:00"}]})
    assert message == (
        "todo__plan: argument 'items[1].day': '2026-02-30' is not a valid date (YYYY-MM-DD); "
        "argument 'items[2].due': '2026-12-01T09:00:00' is not a valid date-time (RFC 3339 with a time zone, "
        "e.g. 2026-05-01T09:00:00Z; a datetime needs tzinfo)"
    )


def test_a_union_argument_names_the_branch_that_came_closest() -> None:
    message = problems("tickets__assign_ticket", load("tickets_assign_ticket")["inputSchema"],
                       {"ticket_id": "T-1", "target": {"kind": "team"}})
    assert message == "tickets__assign_ticket: argument 'target.team': missing (required)"


def test_right_calls_pass() -> None:
    validate_arguments("tickets__create_ticket", load("tickets_create_ticket")["inputSchema"],
                       {"title": "Printer", "priority": "high", "due": "2026-12-01", "assignee": {"name": "Ann"}})
    validate_arguments("github__push_files", load("github_push_files")["inputSchema"], {
        "owner": "octo", "repo": "r", "branch": "main", "message": "m", "files": [{"path": "a", "content": "x", "mode": "100755"}]})
    validate_arguments("playwright__browser_click", load("playwright_browser_click")["inputSchema"],
                       {"element": "OK", "ref": "e5", "modifiers": ["Shift"]})


def test_arguments_that_are_not_an_object_and_schemas_that_are_broken_are_refused_plainly() -> None:
    assert problems("a__b", {"type": "object"}, ["x"]) == "a__b: arguments must be given by name, got list"  # type: ignore[arg-type]
    message = problems("a__c", {"type": "object", "properties": {"n": {"type": "integr"}}}, {"n": 1})
    assert message.startswith("a__c: the server's input schema is not valid JSON Schema (")
    assert message.endswith("); the tool cannot be called until the server fixes it")
    message = problems("a__d", {"type": "object", "properties": {"n": {"$ref": "https://example.com/n.json"}}}, {"n": 1})
    assert message == ("a__d: the server's input schema refers to 'https://example.com/n.json', which cannot be resolved "
                       "here; the tool cannot be called until the server fixes its schema")


def test_the_validator_is_compiled_once_per_tool_and_again_when_the_schema_changes() -> None:
    from integrations.mcp import schema_types

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    validate_arguments("cache__probe", schema, {"n": 1})
    first = schema_types._validators["cache__probe", "input"][1]
    validate_arguments("cache__probe", schema, {"n": 2})
    assert schema_types._validators["cache__probe", "input"][1] is first
    changed = {"type": "object", "properties": {"n": {"type": "string"}}}
    assert problems("cache__probe", changed, {"n": 3}) == "cache__probe: argument 'n': expected str, got 3"
    assert schema_types._validators["cache__probe", "input"][1] is not first


def test_a_result_that_breaks_the_servers_own_output_schema_is_named_as_the_servers_fault() -> None:
    schema = load("tickets_create_ticket")["outputSchema"]
    validate_result("tickets__create_ticket", schema, {"id": "T-1", "url": "u", "created_at": "2026-12-04T10:00:00Z"})
    with pytest.raises(ToolError) as raised:
        validate_result("tickets__create_ticket", schema, {"id": 1, "created_at": "yesterday"})
    assert str(raised.value) == (
        "tickets__create_ticket: the server's result does not match its output schema: "
        "result field 'created_at': 'yesterday' is not a valid date-time (RFC 3339 with a time zone, "
        "e.g. 2026-05-01T09:00:00Z; a datetime needs tzinfo); result field 'id': expected str, got 1; "
        "result field 'url': missing (required); the server is at fault, retrying will not help"
    )
    with pytest.raises(ToolError, match="the result: expected a dict, got 'done'"):
        validate_result("tickets__create_ticket", schema, "done")


# ---------------------------------------------------------------- the types at work in a real sandbox worker


class Bridge:
    """What the host does with an MCP stub's call: wire names, the server's schema, a structured result back."""

    def __init__(self, tools: dict[str, tuple[McpToolTypes, dict]], results: dict[str, Any]) -> None:
        self.tools, self.results = tools, results
        self.sent: list[tuple[str, dict]] = []

    async def __call__(self, name: str, args: dict) -> Any:
        types, input_schema = self.tools[name]
        wire = types.python_to_wire(args)
        validate_arguments(name, input_schema, wire)
        self.sent.append((name, wire))
        return types.wire_to_python(self.results[name])


ROUND_TRIP_TOOLS = ["tickets_create_ticket", "memory_create_relations", "filesystem_directory_tree",
                    "calendar_create_event", "tickets_assign_ticket", "github_get_file_contents"]
RESULTS = {
    "tickets__create_ticket": {"id": "T-1", "url": "http://tickets/T-1", "created_at": "2026-12-04T10:00:00Z"},
    "memory__create_relations": "1 relation created",
    "filesystem__directory_tree": {"name": "docs", "type": "directory", "children": [
        {"name": "a.md", "type": "file"}, {"name": "img", "type": "directory", "children": [{"name": "b.png", "type": "file"}]}]},
    "calendar__create_event": {"id": "e1", "summary": "Review", "attendees": ["ann@example.com"],
                               "start": {"date": "2026-12-07"}, "end": {"dateTime": "2026-12-07T10:30:00+01:00", "timeZone": "Europe/Paris"}},
    "tickets__assign_ticket": {"assigned": True},
    "github__get_file_contents": {"content": [{"type": "text", "text": "# Readme"},
                                              {"type": "resource_link", "uri": "repo://octo/r/README.md", "name": "README.md"}]},
}


@pytest.fixture
async def mcp_session() -> Any:
    names = ModelNames()
    tools = {}
    for stem in ROUND_TRIP_TOOLS:
        row = load(stem)
        tools[row["function"]] = (types_of(row, names), row["inputSchema"])
    models = list(dict.fromkeys(m for types, _ in tools.values() for m in types.models))
    catalogue = {
        "types": dataclasses_source(models),
        "functions": [{"name": name, "signature": types.signature, "doc": "\n".join(types.notes)}
                      for name, (types, _) in tools.items()],
    }
    bridge = Bridge(tools, RESULTS)
    async with SubprocessSession(bridge) as session:
        await session.define_tools(catalogue)
        yield session, bridge


async def test_stub_arguments_arrive_as_the_json_the_schema_expects_and_results_come_back_typed(mcp_session: Any) -> None:
    session, bridge = mcp_session
    result = await session.exec(
        "from datetime import date, datetime, timezone\n"
        "t = await tickets__create_ticket('Printer jam', priority='high', due=date(2026, 12, 1), assignee=Person(name='Ann'))\n"
        "r = await memory__create_relations([MemoryCreateRelationsRelationsItem(from_='Ann', to='Printer', relationType='fixes')])\n"
        "tree = await filesystem__directory_tree('docs')\n"
        "e = await calendar__create_event('Review', start=EventDateTime(date_=date(2026, 12, 7)),\n"
        "                                 end=EventDateTime(dateTime=datetime(2026, 12, 7, 10, 30, tzinfo=timezone.utc)))\n"
        "a = await tickets__assign_ticket('T-1', TeamTarget(kind='team', team='ops'))\n"
        "f = await github__get_file_contents('octo', 'r', path='README.md')\n"
        "[type(t).__name__, t.created_at.isoformat(), r,\n"
        " type(tree).__name__, [c.name for c in tree.children], type(tree.children[1].children[0]).__name__,\n"
        " tree.children[1].children[0].name, tree.children[0].children,\n"
        " type(e.start).__name__, e.start.date_, e.end.dateTime.utcoffset().total_seconds(), a,\n"
        " [type(c).__name__ for c in f.content], f.content[1].size]"
    )
    assert result.error is None, result.error
    assert result.value == [
        "CreateTicketResult", "2026-12-04T10:00:00+00:00", "1 relation created",
        "TreeEntry", ["a.md", "img"], "TreeEntry", "b.png", None,
        "EventDateTime", "2026-12-07", 3600.0, {"assigned": True},
        ["GithubGetFileContentsResultOption3ContentItemText", "GithubGetFileContentsResultOption3ContentItemResourceLink"], None,
    ]
    assert bridge.sent == [
        ("tickets__create_ticket", {"title": "Printer jam", "priority": "high", "due": "2026-12-01", "assignee": {"name": "Ann"}}),
        ("memory__create_relations", {"relations": [{"from": "Ann", "to": "Printer", "relationType": "fixes"}]}),
        ("filesystem__directory_tree", {"path": "docs"}),
        ("calendar__create_event", {"summary": "Review", "start": {"date": "2026-12-07"},
                                    "end": {"dateTime": "2026-12-07T10:30:00+00:00"}}),
        ("tickets__assign_ticket", {"ticket_id": "T-1", "target": {"kind": "team", "team": "ops", "notify": True}}),
        ("github__get_file_contents", {"owner": "octo", "repo": "r", "path": "README.md"}),
    ]


async def test_a_call_the_server_would_refuse_fails_in_the_sandbox_naming_the_field(mcp_session: Any) -> None:
    session, bridge = mcp_session
    result = await session.exec(
        "try:\n"
        "    await tickets__create_ticket('Printer jam', priority='urgent')\n"
        "except ToolError as error:\n"
        "    message = str(error)\n"
        "message"
    )
    assert result.error is None, result.error
    assert "tickets__create_ticket: argument 'priority': 'urgent' is not one of 'low', 'high'" in result.value
    assert bridge.sent == []
