"""Context discipline: prompt tokens of the case study as the mailbox and the tool catalogue grow, and the
graph's own overhead per step.

    python bench/agent/context_bench.py [--quick]

Tokens are counted the way the replay model reports them: LangChain's `count_tokens_approximately` over
the exact messages and tool schemas sent (about 4 characters a token; provider tokenizers cannot be
loaded offline). What matters is the ratio: the prompt must not grow with the data or the catalogue.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot import demo  # noqa: E402
from bot.agent.replay import ReplayChatModel  # noqa: E402
from bot.app import open_codemem  # noqa: E402
from bot.core.views import ThreadRef  # noqa: E402
from bot.settings import Settings  # noqa: E402
from integrations.emulator.seed import build_demo_workspace  # noqa: E402
from integrations.emulator.server import EmulatorServer  # noqa: E402
from integrations.registry import Registry, default_registry  # noqa: E402
from skills_db.models import Owner  # noqa: E402

CASE_STUDY = demo.SCENARIO
USER = Owner("bench", "T", "U")


class Silent:
    """A surface that shows nothing."""

    async def post(self, thread, view) -> str:
        return "1"

    async def update(self, thread, message_id, view) -> None:
        pass


def registry_with(extra_tools: int) -> Registry:
    """The real tools plus `extra_tools` plausible ones (CRM, tickets, calendars…)."""
    registry = default_registry()
    nouns = ["invoice", "ticket", "contact", "deal", "meeting", "task", "lead", "order", "shipment", "survey"]
    verbs = ["list", "get", "create", "update", "archive", "search", "export", "assign", "close", "tag"]
    for n in range(extra_tools):
        noun, verb = nouns[n % 10], verbs[(n // 10) % 10]
        name = f"app{n // 100}_{verb}_{noun}_{n}"
        namespace: dict = {}
        exec(f"async def {name}(query: str, limit: int = 20) -> list[str]:\n"
             f"    '''{verb.title()} {noun} records in app {n // 100} that match `query`.'''\n"
             f"    return []\n", namespace)
        registry.register(namespace[name], provider=f"app{n // 100}", scopes=(), effect="read", retry_safe=True)
    return registry


async def case_study_tokens(messages: int, extra_tools: int) -> tuple[int, float]:
    """Prompt tokens of the whole case-study conversation, and its wall time in seconds."""
    state = build_demo_workspace(datetime.now(timezone.utc), messages=messages)
    with EmulatorServer(state) as emulator, tempfile.TemporaryDirectory() as data:
        settings = Settings(model=f"replay:{CASE_STUDY}", data_dir=Path(data), emulator_url=emulator.url)
        async with open_codemem(settings, registry=registry_with(extra_tools)) as codemem:
            codemem.surfaces.attach("bench", Silent())
            thread = ThreadRef("bench", "T", "C", f"{messages}-{extra_tools}")
            started = time.perf_counter()
            for text in ("save my attachments", "Yes, go ahead"):
                await codemem.conversations.on_message(Silent(), thread, USER, text)
                await codemem.jobs.drain()
            elapsed = time.perf_counter() - started
            snapshot = await codemem.conversations.graph.aget_state({"configurable": {"thread_id": thread.thread_id}})
            return snapshot.values["usage"]["input_tokens"], elapsed


async def overhead_per_step(steps: int = 60) -> tuple[float, float]:
    """Median milliseconds of one agent→tools step with a trivial meta-tool, and of the model call alone."""
    turns = [{"tool_calls": [{"name": "write_todos", "args": {"todos": [{"content": f"step {n}"}]}}]}
             for n in range(steps)] + [{"content": "done"}]
    with tempfile.TemporaryDirectory() as data, EmulatorServer() as emulator:
        replay = Path(data) / "steps.yaml"
        replay.write_text(yaml.safe_dump({"turns": turns}))
        settings = Settings(model=f"replay:{replay}", data_dir=Path(data), emulator_url=emulator.url)
        async with open_codemem(settings) as codemem:
            codemem.surfaces.attach("bench", Silent())
            thread = ThreadRef("bench", "T", "C", "steps")
            started = time.perf_counter()
            await codemem.conversations.on_message(Silent(), thread, USER, "go")
            await codemem.jobs.drain()
            total_ms = (time.perf_counter() - started) * 1000 / (steps + 1)
            snapshot = await codemem.conversations.graph.aget_state({"configurable": {"thread_id": thread.thread_id}})
        replayer = ReplayChatModel(path=replay)
        messages = snapshot.values["messages"][: len(snapshot.values["messages"]) // 2]
        model_ms = []
        for _ in range(20):
            begun = time.perf_counter()
            await replayer.ainvoke(messages)
            model_ms.append((time.perf_counter() - begun) * 1000)
    return total_ms, statistics.median(model_ms)


async def main(quick: bool) -> None:
    mailbox, tools, steps = (200, 200, 5) if quick else (10_000, 1_970, 60)
    own = len(default_registry().specs())
    small_mail, t1 = await case_study_tokens(10, 0)
    large_mail, t2 = await case_study_tokens(mailbox, 0)
    many_tools, t3 = await case_study_tokens(10, tools)
    print("case study, prompt tokens over the whole conversation")
    print(f"  mailbox {10:>6,} messages, {own:>5,} tools: {small_mail:>7,}  ({t1:.1f} s)")
    print(f"  mailbox {mailbox:>6,} messages, {own:>5,} tools: {large_mail:>7,}  ({t2:.1f} s)")
    print(f"  mailbox {10:>6,} messages, {own + tools:>5,} tools: {many_tools:>7,}  ({t3:.1f} s)")
    print(f"  ratio {mailbox:,} vs 10 messages: {large_mail / small_mail:.3f}  (goal <= 1.05)")
    print(f"  ratio {own + tools:,} vs {own} tools:     {many_tools / small_mail:.3f}  (goal <= 1.05)")
    step_ms, model_ms = await overhead_per_step(steps)
    print(f"graph step with a trivial tool: {step_ms:.1f} ms; replay model call alone: {model_ms:.1f} ms; "
          f"graph overhead ≈ {step_ms - model_ms:.1f} ms per step (goal <= 20 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for the smoke test")
    asyncio.run(main(parser.parse_args().quick))
