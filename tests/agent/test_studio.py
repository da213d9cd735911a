"""langgraph.json's graph, loaded as the LangGraph server (`langgraph dev`) loads it: the file imported by path,
the factory called in the event loop with blocking calls detected, the server's own checkpointer put in,
then a run from Studio, which carries only messages."""

from __future__ import annotations

import contextlib
import importlib.util
import json
from typing import Any

from blockbuster import blockbuster_ctx
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from bot import demo
from integrations.emulator.server import EmulatorServer
from tests.e2e.harness import REPO
from tests.journeys.case_study import REQUEST


def studio_module() -> tuple[Any, Any]:
    """The module and factory langgraph.json names, imported from its file path as langgraph-api does."""
    config = json.loads((REPO / "langgraph.json").read_text())
    path, _, name = config["graphs"]["codemem"].partition(":")
    spec = importlib.util.spec_from_file_location("codemem_studio_graph", REPO / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, getattr(module, name)


async def load(factory: Any, stack: contextlib.AsyncExitStack) -> Any:
    """Call the factory as langgraph-api does: a coroutine is awaited, an async context manager entered."""
    made = factory({"configurable": {}})
    return await stack.enter_async_context(made) if hasattr(made, "__aenter__") else await made


async def test_studio_loads_the_graph_without_blocking_and_runs_a_turn(tmp_path, monkeypatch) -> None:
    module, factory = studio_module()
    with EmulatorServer() as emulator:
        for name, value in {"CODEMEM_MODEL": f"replay:{demo.SCENARIO}", "CODEMEM_DATA_DIR": str(tmp_path / "data"),
                            "CODEMEM_SANDBOX": "subprocess", "CODEMEM_EMULATOR_URL": emulator.url}.items():
            monkeypatch.setenv(name, value)
        async with contextlib.AsyncExitStack() as stack:
            with blockbuster_ctx():   # a blocking call in the loop raises BlockingError, as under `langgraph dev`
                graph = await load(factory, stack)
                again = await load(factory, stack)   # the server calls the factory for every request
            assert graph.checkpointer is None and again.checkpointer is None, "the server brings its own"

            # The run (as `langgraph dev --allow-blocking`: the skills store reads SQLite inline by design).
            graph = graph.copy(update={"checkpointer": InMemorySaver()})
            config = {"configurable": {"thread_id": "studio-thread"}}
            first = await graph.ainvoke({"messages": [HumanMessage(REQUEST)]}, config)
            [question] = first["__interrupt__"]
            assert question.value["choices"] == ["Yes, go ahead", "No, cancel"]
            assert first["requester"] == {"platform": "studio", "team": "local", "user": "studio"}
            try:
                done = await graph.ainvoke(Command(resume="Yes, go ahead"), config)
            finally:
                await module.close()
            assert done["result"]["data"]["saved"] > 0
