"""Tokens spent from inside code (`llm()` and `spawn_agent` sub-agents) count as the thread's: in its token
line and in `codemem_model_tokens_total`."""

from __future__ import annotations

import yaml
from langchain_core.messages import AIMessage, HumanMessage

from bot.agent.replay import ReplayChatModel
from bot.core.views import Answer
from bot.observability import TOKENS
from tests.agent.conftest import RecordingSurface, call, say, state_of

CLASSIFY = "Classify this mail subject: Invoice 42"
PARENT_CODE = f"""
label = await llm({CLASSIFY!r})
summary = await spawn_agent("Summarise mail A", mail={{"subject": "Invoice"}})
submit({{"label": label, "summary": summary}})
"""


def _calls_usage(messages: list) -> dict[str, int]:
    own = [m.usage_metadata for m in messages if isinstance(m, AIMessage)]
    return {"input_tokens": sum(u["input_tokens"] for u in own), "output_tokens": sum(u["output_tokens"] for u in own)}


async def test_llm_calls_and_sub_agents_count_in_the_token_line_and_the_metric(start, tmp_path) -> None:
    replay = tmp_path / "tokens.yaml"
    replay.write_text(yaml.safe_dump({
        "turns": [{"tool_calls": [call("execute_code", code=PARENT_CODE)]}, {"content": "Done."}],
        "scripts": [
            {"match": "Classify this mail", "turns": [{"content": "invoice"}]},
            {"match": "Summarise mail A", "turns": [
                {"tool_calls": [call("execute_code", code="submit(mail['subject'].upper())")]},
                {"content": "done"}]},
        ],
    }, sort_keys=False))
    metric_before = {d: TOKENS.labels(d)._value.get() for d in ("input_tokens", "output_tokens")}
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "classify and summarise my mail")
        parent = _calls_usage((await state_of(codemem))["messages"])
        saver = codemem.conversations.graph.checkpointer
        sub_threads = {c.config["configurable"]["thread_id"] async for c in saver.alist(None)
                       if "/sub-" in c.config["configurable"]["thread_id"]}
        (sub_thread,) = sub_threads
        snapshot = await codemem.conversations.graph.aget_state({"configurable": {"thread_id": sub_thread}})
        sub_agent = _calls_usage(snapshot.values["messages"])
    llm_call = (await ReplayChatModel(path=replay).ainvoke([HumanMessage(CLASSIFY)])).usage_metadata
    answer = surface.shown(Answer)[-1]
    assert answer.data == {"label": "invoice", "summary": "INVOICE"}
    expected = {d: parent[d] + sub_agent[d] + llm_call[d] for d in ("input_tokens", "output_tokens")}
    assert sub_agent["input_tokens"] > 0 and llm_call["input_tokens"] > 0
    assert answer.usage == expected, "the token line counts the thread's own calls, its sub-agent's and llm()"
    assert {d: TOKENS.labels(d)._value.get() - metric_before[d] for d in expected} == expected
