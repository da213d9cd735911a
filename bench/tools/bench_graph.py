"""Graph response path: listing 1,000 messages and fetching 100 attachments through our tools (msgraph-sdk
request building, auth and middleware; pydantic parsing) vs. the same requests through raw httpx, in one run
against the emulator. Also shows the SDK's own model deserialization for the same listing, for reference.

Rounds alternate between the variants, so a machine that slows down mid-run slows all of them alike.

Run: python bench/tools/bench_graph.py [--quick]   (goal: tools / raw httpx <= 1.5; quick: 40 messages, 5 files)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import statistics
import time
from datetime import UTC, datetime
from typing import Awaitable, Callable

import httpx
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder

from integrations.blobs import BlobStore
from integrations.context import ToolContext, use_context
from integrations.emulator import DEMO_TOKEN, EmulatorServer, build_demo_workspace
from integrations.microsoft.client import make_graph_client
from integrations.microsoft.outlook import _MESSAGE_FIELDS, PAGE_SIZE, outlook_get_attachment, outlook_list_messages

MESSAGES = 1000
ATTACHMENTS = 100
ROUNDS = 15
SDK_ROUNDS = 3   # the SDK's own models are only a reference, and slow


async def _medians(runs: dict[str, Callable[[], Awaitable[int]]], rounds: int) -> dict[str, tuple[float, int]]:
    """Median seconds and the count of each run; rounds alternate between the runs so drift hits all alike."""
    counts = {name: await run() for name, run in runs.items()}  # warm up: imports, connections
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            started = time.perf_counter()
            counts[name] = await run()
            timings[name].append(time.perf_counter() - started)
    return {name: (statistics.median(timings[name]), counts[name]) for name in runs}


async def main(quick: bool) -> None:
    messages, attachments, rounds, sdk_rounds = (40, 5, 2, 1) if quick else (MESSAGES, ATTACHMENTS, ROUNDS, SDK_ROUNDS)
    state = build_demo_workspace(datetime.now(UTC), messages=messages + 200)
    async with EmulatorServer(state) as server:
        graph = make_graph_client(server.graph_url, DEMO_TOKEN)
        ctx = ToolContext(graph=graph, blobs=BlobStore())
        raw = httpx.AsyncClient(base_url=server.graph_url, headers={"Authorization": f"Bearer {DEMO_TOKEN}"}, trust_env=False)
        with_files = [(m.id, a.id) for m in state.messages for a in m.attachments][:attachments]

        async def tools_list() -> int:
            with use_context(ctx):
                return len(await outlook_list_messages(limit=messages))

        async def raw_list() -> int:
            params = {"$select": ",".join(_MESSAGE_FIELDS), "$orderby": "receivedDateTime desc", "$top": str(PAGE_SIZE)}
            response = await raw.get("/me/messages", params=params)
            found: list[dict] = []
            while True:
                page = response.json()
                found.extend(page["value"])
                if len(found) >= messages or "@odata.nextLink" not in page:
                    return len(found[:messages])
                response = await raw.get(page["@odata.nextLink"])

        async def sdk_models_list() -> int:
            query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(select=_MESSAGE_FIELDS, orderby=["receivedDateTime desc"], top=PAGE_SIZE)
            page = await graph.me.messages.get(RequestConfiguration(query_parameters=query))
            found = list(page.value or [])
            while page.odata_next_link and len(found) < messages:
                page = await graph.me.messages.with_url(page.odata_next_link).get()
                found.extend(page.value or [])
            return len(found[:messages])

        async def tools_attachments() -> int:
            with use_context(ctx):
                return sum([(await outlook_get_attachment(m, a)).size for m, a in with_files])

        async def raw_attachments() -> int:
            total = 0
            for message_id, attachment_id in with_files:
                body = (await raw.get(f"/me/messages/{message_id}/attachments/{attachment_id}")).json()
                total += len(base64.b64decode(body["contentBytes"]))
            return total

        listing = await _medians({"raw httpx": raw_list, "our tools": tools_list}, rounds)
        listing |= await _medians({"SDK models": sdk_models_list}, sdk_rounds)
        files = await _medians({"raw httpx": raw_attachments, "our tools": tools_attachments}, rounds)
        await raw.aclose()

    base = listing["raw httpx"][0]
    print(f"listing {messages} messages ({-(-messages // PAGE_SIZE)} pages of {PAGE_SIZE}), median of {rounds} alternating rounds "
          f"({sdk_rounds} for the SDK's models):")
    for name, (seconds, count) in listing.items():
        print(f"  {name:<11} {seconds * 1000:8.1f} ms  ({count} messages)  ratio {seconds / base:5.2f}")
    base = files["raw httpx"][0]
    print(f"fetching {len(with_files)} attachments, median of {rounds} alternating rounds:")
    for name, (seconds, count) in files.items():
        print(f"  {name:<11} {seconds * 1000:8.1f} ms  ({count / 1e6:.1f} MB)  ratio {seconds / base:5.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    asyncio.run(main(parser.parse_args().quick))
