"""Functions the agent's code calls besides the workspace: parallel sub-agents and small model questions."""

from __future__ import annotations

import yaml

from bot.core.views import Answer
from tests.agent.conftest import RecordingSurface, call, say, state_of, tool_outputs

PARENT_CODE = """
import asyncio
inbox = [{"from": "ana@fabrikam.com", "subject": "Invoice"}, {"from": "ben@northwindtraders.com", "subject": "Quote"}]
results = await asyncio.gather(spawn_agent("Summarise mail A", mail=inbox[0]),
                               spawn_agent("Summarise mail B", mail=inbox[1]))
print("parent still has", inbox[0]["subject"], inbox[1]["subject"])
submit(results)
"""
CHILD_CODE = "mail['subject'] = mail['subject'].upper()\nsubmit({'summary': mail['subject'], 'from': mail['from']})"


def child_script(match: str) -> dict:
    return {"match": match, "turns": [{"tool_calls": [call("execute_code", code="import asyncio\n"
                                                                                "await asyncio.sleep(0.2)")]},
                                      {"tool_calls": [call("execute_code", code=CHILD_CODE)]},
                                      {"content": "done"}]}


async def test_sub_agents_run_in_parallel_on_copies_and_return_typed_results(start, tmp_path) -> None:
    replay = tmp_path / "parallel.yaml"
    replay.write_text(yaml.safe_dump({
        "turns": [{"tool_calls": [call("execute_code", code=PARENT_CODE)]}, {"content": "Two summaries."}],
        "scripts": [child_script("Summarise mail A"), child_script("Summarise mail B")],
    }, sort_keys=False))
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "summarise these two mails in parallel")
        output = tool_outputs(await state_of(codemem), "execute_code")[0]
        saver = codemem.conversations.graph.checkpointer
        spans: dict[str, list[str]] = {}
        async for checkpoint in saver.alist(None):
            thread = checkpoint.config["configurable"]["thread_id"]
            if "/sub-" in thread:
                spans.setdefault(thread, []).append(checkpoint.checkpoint["ts"])
    assert surface.shown(Answer)[-1].data == [{"summary": "INVOICE", "from": "ana@fabrikam.com"},
                                              {"summary": "QUOTE", "from": "ben@northwindtraders.com"}]
    assert "parent still has Invoice Quote" in output, "the sub-agents changed copies, not the parent's objects"
    (a_start, a_end), (b_start, b_end) = [(min(ts), max(ts)) for ts in spans.values()]
    assert a_start < b_end and b_start < a_end, "the two sub-agents' runs overlapped"


async def test_code_can_ask_the_model_a_small_question_with_a_schema(start, tmp_path) -> None:
    replay = tmp_path / "llm.yaml"
    code = ('label = await llm("Classify this mail subject: Invoice 42", '
            'schema={"type": "object", "properties": {"category": {"type": "string"}}})\nsubmit(label)')
    replay.write_text(yaml.safe_dump({
        "turns": [{"tool_calls": [call("execute_code", code=code)]}, {"content": "Classified."}],
        "scripts": [{"match": "Classify this mail", "turns": [{"content": '{"category": "invoice"}'}]}],
    }, sort_keys=False))
    surface = RecordingSurface()
    async with start(replay) as codemem:
        await say(codemem, surface, "classify my latest mail")
    assert surface.shown(Answer)[-1].data == {"category": "invoice"}
