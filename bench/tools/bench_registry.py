"""Registry search with 2,000 registered tools: index build time, search latency, and whether the
workspace tools still rank first for plain requests among 1,985 synthetic look-alike tools."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from typing import Any, Callable

from integrations.registry import default_registry

NOUNS = ["invoice", "ticket", "contact", "order", "report", "calendar", "task", "note", "lead", "deal", "expense", "shipment"]
VERBS = ["list", "get", "create", "update", "delete", "archive", "export", "sync", "search", "count"]
QUERIES = {
    "upload a file to onedrive": "onedrive_upload_file",
    "search gmail for messages from a sender": "gmail_search",
    "append rows to a google sheet": "sheets_append_rows",
    "download an email attachment from outlook": "outlook_get_attachment",
    "send an email with gmail": "gmail_send",
    "send an email from outlook": "outlook_send",
    "search outlook emails from a sender domain": "outlook_search_messages",
    "read the body of an outlook email": "outlook_get_message",
    "reply to an outlook email": "outlook_reply",
    "move an email to the archive folder": "outlook_move_message",
    "mark an email as read": "outlook_mark_read",
    "list the files in a onedrive folder": "onedrive_list_folder",
    "download a file from onedrive": "onedrive_download",
    "find a file in onedrive": "onedrive_search",
    "share a onedrive file with a link": "onedrive_create_link",
    "create a folder in onedrive": "onedrive_ensure_folder",
    "read a gmail message": "gmail_get_message",
    "save a gmail draft": "gmail_create_draft",
    "read a google sheet as records": "sheets_read_records",
    "find rows in a sheet where a column matches": "sheets_find_rows",
}


def _synthetic(name: str, summary: str) -> Callable[..., Any]:
    async def fn(query: str, since: datetime | None = None, limit: int = 50) -> list[str]:
        return []

    fn.__name__, fn.__doc__ = name, summary
    return fn


def main() -> None:
    registry = default_registry()
    real = len(registry.specs())
    n = 0
    while len(registry.specs()) < 2_000:
        verb, noun, system = VERBS[n % len(VERBS)], NOUNS[(n // len(VERBS)) % len(NOUNS)], n // (len(VERBS) * len(NOUNS))
        registry.register(_synthetic(f"crm{system}_{verb}_{noun}s", f"{verb.capitalize()} {noun}s in CRM system {system} (records, filters, owners)."),
                          provider=f"mcp{system}", scopes=(), effect="read", retry_safe=True)
        n += 1
    started = time.perf_counter()
    registry.search("warm up the index")
    build = time.perf_counter() - started
    timings, hits, in_top3 = [], 0, 0
    for _ in range(20):
        for query, expected in QUERIES.items():
            started = time.perf_counter()
            found = registry.search(query, limit=8)
            timings.append(time.perf_counter() - started)
            hits += found[0].name == expected
            in_top3 += expected in [f.name for f in found[:3]]
    print(f"tools: {len(registry.specs())} ({real} workspace tools); index build {build * 1000:.1f} ms")
    print(f"search p50 {statistics.median(timings) * 1000:.2f} ms, p95 {sorted(timings)[int(len(timings) * 0.95)] * 1000:.2f} ms")
    print(f"relevance: top-1 {hits / len(timings):.0%}, top-3 {in_top3 / len(timings):.0%} of {len(timings)} searches")
    for query, expected in QUERIES.items():
        first = registry.search(query, limit=3)
        if not first or first[0].name != expected:
            print(f"  miss: {query!r} -> {[f.name for f in first]} (expected {expected})")


if __name__ == "__main__":
    main()
