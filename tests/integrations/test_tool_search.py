"""Tool search: the functions a task needs come back together, and MCP look-alikes do not crowd out ours."""

from __future__ import annotations


import yaml

from integrations.registry import Registry, default_registry
from integrations.tool_search import ToolDocument, ToolIndex, search_terms
from bot.demo import SCENARIO as CASE_STUDY



def _names(registry: Registry, query: str) -> list[str]:
    return [spec.name for spec in registry.search(query)]


def test_the_case_study_searches_return_every_function_its_replay_loads(registry: Registry) -> None:
    turns = yaml.safe_load(CASE_STUDY.read_text())["turns"]
    calls = [call for turn in turns for call in turn.get("tool_calls", [])]
    first_load = next(i for i, call in enumerate(calls) if call["name"] == "load_functions")
    seen = {name for call in calls[:first_load] if call["name"] == "search_functions"
            for name in _names(registry, call["args"]["query"])}
    loaded = calls[first_load]["args"]["names"]
    assert "outlook_get_attachment" in loaded
    assert set(loaded) <= seen, f"loaded without having been found: {sorted(set(loaded) - seen)}"


def test_a_list_brings_the_get_of_the_same_resource_beside_it(registry: Registry) -> None:
    top = _names(registry, "list emails with attachments")[:3]
    assert set(top) == {"outlook_list_messages", "outlook_list_attachments", "outlook_get_attachment"}


def test_the_whole_case_study_request_finds_its_four_functions(registry: Registry) -> None:
    request = ("Every week, save the PDF and XLSX attachments of the emails I received in the last 15 days to "
               "OneDrive, in a folder per company under Email Attachments, ignoring mail from our own domain")
    found = _names(registry, request)
    assert {"outlook_list_messages", "outlook_list_attachments", "outlook_get_attachment",
            "onedrive_upload_file"} <= set(found)
    assert found[0] != "outlook_create_draft"


def test_a_request_of_several_steps_finds_a_function_for_each(registry: Registry) -> None:
    found = _names(registry, "upload a file to a onedrive folder and share a link to it by email")
    assert {"onedrive_upload_file", "onedrive_create_link", "outlook_send"} <= set(found)


def test_synonyms_and_plurals_meet() -> None:
    assert search_terms("Save the PDFs in a directory") == search_terms("upload the file into a folder")
    assert search_terms("MailMessage") == ["email", "email"]


def _tool(name: str, summary: str, signature: str = "") -> ToolDocument:
    return ToolDocument(name=name, summary=summary, doc=summary, signature=f"async def {name}({signature}) -> str")


def test_a_server_tool_ranks_after_a_built_in_tool_of_the_same_words() -> None:
    tools = [_tool("crm__mark_read", "Mark an email as read."), _tool("outlook_mark_read", "Mark an email as read.")]
    assert ToolIndex(tools).rank("mark an email as read", 2) == [1, 0]


def test_a_related_tool_comes_only_when_it_matches_the_request() -> None:
    tools = [_tool("box__list_files", "List the files in a folder."),
             _tool("box__get_file", "Get the size and owner of one file in a folder."),
             _tool("box__list_users", "List the users of the account."),
             _tool("box__delete_file", "Delete a folder.")]
    assert ToolIndex(tools).rank("list the files in a folder", 2) == [0, 1]
    assert ToolIndex(tools).rank("users", 3) == [2]


def test_search_stays_relevant_among_the_benchmarks_look_alikes() -> None:
    from bench.tools.bench_registry import look_alikes, register_look_alike

    registry = default_registry()
    for tool in look_alikes(300):
        register_look_alike(registry, tool)
    assert {"outlook_list_messages", "outlook_list_attachments", "outlook_get_attachment"} <= set(
        _names(registry, "list outlook emails with attachments"))
    assert _names(registry, "mark an email as read")[0] == "outlook_mark_read"


def test_a_request_that_names_no_service_gets_each_services_tool(registry: Registry) -> None:
    assert {"outlook_get_attachment", "gmail_get_attachment"} <= set(_names(registry, "download an attachment"))
