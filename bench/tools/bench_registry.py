"""Tool search: does search_functions return the functions a request needs, and how fast, with the 29
workspace tools alone and among ~2,000 look-alike tools such as MCP servers bring.

    python bench/tools/bench_registry.py [--quick]

Relevance is measured on bench/tools/queries.yaml (requests written before any tuning; a hold-out part is
reported apart). Recall = needed functions found among what search_functions returns (its default limit),
over all (request, needed function) pairs. Goals: >= 95% alone, >= 90% among the look-alikes; p95 <= 2 ms.
Look-alikes are generated deterministically: other servers' list/get/create/upload/send… tools with the
same words (mail, files, folders, rows, attachments), named `server__tool` as MCP tools are.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from integrations.registry import Registry, default_registry  # noqa: E402

QUERIES = Path(__file__).with_name("queries.yaml")
GOAL_ALONE, GOAL_CROWD, GOAL_P95_MS = 0.95, 0.90, 2.0


class Item(BaseModel):
    """A record of another service."""

    id: str
    name: str


class StoredFile(BaseModel):
    """A file or folder in another storage service."""

    id: str
    path: str
    size: int


class Email(BaseModel):
    """A message in another mail service."""

    id: str
    sender: str
    subject: str


_TYPES = {"Item": Item, "StoredFile": StoredFile, "Email": Email}

# (tool, summary, parameters, return type) per kind of server; {s} is the service's display name.
_FILES = [
    ("list_folder", "List the files and folders in a {s} folder.", "path: str = ''", "list[StoredFile]"),
    ("upload_file", "Upload a file to a {s} folder.", "path: str, content: str", "StoredFile"),
    ("download_file", "Download a file from {s} by path.", "path: str", "str"),
    ("search_files", "Search {s} for files and folders by name.", "query: str", "list[StoredFile]"),
    ("create_folder", "Create a folder in {s}.", "path: str", "StoredFile"),
    ("share_file", "Create a shared link for a {s} file or folder.", "path: str", "str"),
    ("move_file", "Move or rename a file in {s}.", "path: str, new_path: str", "StoredFile"),
    ("delete_file", "Delete a file or folder from {s}.", "path: str", "bool"),
    ("get_file_metadata", "Get the size, owner and dates of a {s} file.", "path: str", "StoredFile"),
]
_MAIL = [
    ("list_messages", "List the emails in a {s} mailbox folder, newest first.", "folder: str = 'INBOX', limit: int = 50", "list[Email]"),
    ("search_messages", "Search {s} emails by sender, subject or text.", "query: str, limit: int = 50", "list[Email]"),
    ("get_message", "Get one {s} email with its body and headers.", "message_id: str", "Email"),
    ("list_attachments", "List the attachments of a {s} email.", "message_id: str", "list[Item]"),
    ("get_attachment", "Download an attachment of a {s} email.", "message_id: str, attachment_id: str", "str"),
    ("send_email", "Send an email through {s}.", "to: list[str], subject: str, body: str", "Email"),
    ("reply", "Reply to a {s} email.", "message_id: str, body: str", "Email"),
    ("create_draft", "Create a draft email in {s}.", "to: list[str], subject: str, body: str", "Email"),
    ("move_message", "Move a {s} email to another folder.", "message_id: str, folder: str", "Email"),
    ("mark_read", "Mark a {s} email as read or unread.", "message_id: str, read: bool = True", "Email"),
    ("list_folders", "List the mail folders of {s}.", "", "list[Item]"),
]
_TABLES = [
    ("list_records", "List the records (rows) of a {s} table.", "table: str, limit: int = 100", "list[Item]"),
    ("create_record", "Add a record (row) to a {s} table.", "table: str, fields: dict[str, str]", "Item"),
    ("update_record", "Update the fields of a {s} record.", "table: str, record_id: str, fields: dict[str, str]", "Item"),
    ("find_records", "Find {s} records whose field matches a value.", "table: str, field: str, value: str", "list[Item]"),
    ("create_table", "Create a new table (sheet) in {s}.", "name: str, columns: list[str]", "Item"),
    ("get_cells", "Read a range of cells from a {s} sheet.", "sheet: str, range: str", "list[list[str]]"),
    ("delete_record", "Delete a record from a {s} table.", "table: str, record_id: str", "bool"),
]
_APP_VERBS = [
    ("list_{n}s", "List {n}s in {s}, with filters.", "limit: int = 50", "list[Item]"),
    ("get_{n}", "Get one {s} {n} by id.", "{n}_id: str", "Item"),
    ("create_{n}", "Create a {n} in {s}.", "title: str, description: str = ''", "Item"),
    ("update_{n}", "Update a {s} {n}.", "{n}_id: str, fields: dict[str, str]", "Item"),
    ("search_{n}s", "Search {s} {n}s by text.", "query: str", "list[Item]"),
    ("add_{n}_comment", "Add a comment to a {s} {n}.", "{n}_id: str, body: str", "Item"),
    ("upload_{n}_attachment", "Upload a file as an attachment of a {s} {n}.", "{n}_id: str, file_name: str, content: str", "Item"),
    ("list_{n}_attachments", "List the files attached to a {s} {n}.", "{n}_id: str", "list[Item]"),
]
_FILE_SERVERS = ["dropbox", "box", "gdrive", "sharepoint", "nextcloud", "egnyte", "s3", "pcloud", "backblaze", "seafile"]
_MAIL_SERVERS = ["imap", "fastmail", "protonmail", "zoho_mail", "yahoo_mail", "front", "helpscout", "missive"]
_TABLE_SERVERS = ["airtable", "smartsheet", "excel_online", "coda", "notion", "baserow", "nocodb", "quip"]
_APP_SERVERS = ["jira", "zendesk", "hubspot", "salesforce", "asana", "trello", "linear", "github", "intercom",
                "freshdesk", "pipedrive", "stripe", "quickbooks", "xero", "shopify", "calendly", "zoom",
                "confluence", "monday", "clickup", "servicenow", "docusign", "mailchimp", "greenhouse"]
_NOUNS = ["ticket", "issue", "contact", "deal", "invoice", "task", "order", "customer", "meeting", "document",
          "project", "report", "lead", "expense", "campaign", "candidate", "page", "card", "payment", "product"]


@dataclass(frozen=True)
class _LookAlike:
    name: str
    summary: str
    parameters: str
    returns: str


def look_alikes(count: int) -> list[_LookAlike]:
    """`count` deterministic look-alike tools, round after round of servers (a suffix from the second round)."""
    tools: list[_LookAlike] = []
    round_ = 0
    while len(tools) < count:
        suffix = "" if round_ == 0 else str(round_ + 1)
        for kind, servers in ((_FILES, _FILE_SERVERS), (_MAIL, _MAIL_SERVERS), (_TABLES, _TABLE_SERVERS)):
            for server in servers:
                display = server.replace("_", " ").title()
                tools += [_LookAlike(f"{server}{suffix}__{t}", s.format(s=display), p, r) for t, s, p, r in kind]
        for i, server in enumerate(_APP_SERVERS):
            display = server.title()
            for noun in (_NOUNS[(i + round_) % len(_NOUNS)], _NOUNS[(i + 7 + round_) % len(_NOUNS)]):
                tools += [_LookAlike(f"{server}{suffix}__{t.format(n=noun)}", s.format(s=display, n=noun),
                                     p.format(n=noun), r) for t, s, p, r in _APP_VERBS]
        round_ += 1
    return tools[:count]


def register_look_alike(registry: Registry, tool: _LookAlike) -> None:
    namespace: dict[str, Any] = dict(_TYPES)
    exec(f"async def {tool.name}({tool.parameters}) -> {tool.returns}:\n    return None\n", namespace)
    fn = namespace[tool.name]
    fn.__doc__ = tool.summary
    registry.register(fn, provider=tool.name.split("__")[0], scopes=(), effect="read", retry_safe=True)


def load_requests() -> list[dict[str, Any]]:
    return yaml.safe_load(QUERIES.read_text())["requests"]


def search(registry: Registry, query: str) -> list[str]:
    """The function names search_functions shows for `query` (its default limit)."""
    return [spec.name for spec in registry.search(query)]


def recall(registry: Registry, requests: list[dict[str, Any]]) -> tuple[float, list[tuple[str, list[str]]]]:
    """Share of needed functions found, and the requests that missed some (with what they missed)."""
    found = needed = 0
    misses = []
    for request in requests:
        names = set(search(registry, request["q"]))
        missing = [n for n in request["needs"] if n not in names]
        found += len(request["needs"]) - len(missing)
        needed += len(request["needs"])
        if missing:
            misses.append((request["q"], missing))
    return found / needed, misses


def report(label: str, registry: Registry, requests: list[dict[str, Any]], show_misses: bool) -> float:
    tuning = [r for r in requests if not r.get("holdout")]
    held = [r for r in requests if r.get("holdout")]
    tuned, misses = recall(registry, tuning)
    held_out, _ = recall(registry, held)
    overall, _ = recall(registry, requests)
    print(f"{label}: recall {overall:.1%} (tuning {tuned:.1%} of {len(tuning)} requests, "
          f"hold-out {held_out:.1%} of {len(held)})")
    if show_misses:
        for query, missing in misses:
            print(f"  miss (tuning part): {query[:70]!r} lacks {', '.join(missing)}")
    return overall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    parser.add_argument("--misses", action="store_true", help="list the tuning requests that missed a function")
    options = parser.parse_args()
    total, repeats = (200, 2) if options.quick else (2_000, 20)
    requests = load_requests()

    registry = default_registry()
    alone = report(f"{len(registry.specs())} workspace tools alone", registry, requests, options.misses)

    real = len(registry.specs())
    for tool in look_alikes(total - real):
        register_look_alike(registry, tool)
    started = time.perf_counter()
    registry.search("warm up the index")
    build = time.perf_counter() - started
    crowd = report(f"among {total - real} look-alikes", registry, requests, options.misses)

    timings = []
    for _ in range(repeats):
        for request in requests:
            started = time.perf_counter()
            registry.search(request["q"])
            timings.append(time.perf_counter() - started)
    p50, p95 = statistics.median(timings) * 1000, sorted(timings)[int(len(timings) * 0.95)] * 1000
    print(f"{total} tools: index build {build * 1000:.1f} ms; search p50 {p50:.2f} ms, p95 {p95:.2f} ms "
          f"over {len(timings)} searches")
    print(f"goals: alone {alone:.1%} >= {GOAL_ALONE:.0%} {'met' if alone >= GOAL_ALONE else 'NOT met'}; "
          f"look-alikes {crowd:.1%} >= {GOAL_CROWD:.0%} {'met' if crowd >= GOAL_CROWD else 'NOT met'}; "
          f"p95 {p95:.2f} ms <= {GOAL_P95_MS} ms {'met' if p95 <= GOAL_P95_MS else 'NOT met'}")


if __name__ == "__main__":
    main()
