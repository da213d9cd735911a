"""The agent's code runs the same on every local sandbox backend: variables persist between blocks."""

from __future__ import annotations

import pytest

from bot.app import open_codemem
from bot.core.views import Answer
from bot.settings import Settings
from tests.agent.conftest import RecordingSurface, call, say, state_of, tool_outputs


@pytest.mark.parametrize("backend", ["subprocess", "pool", "inprocess"])
async def test_variables_persist_between_code_blocks(backend, tmp_path, scenario, emulator) -> None:
    replay = scenario([
        {"tool_calls": [call("load_functions", names=["outlook_list_messages"]),
                        call("execute_code", code="mail = await outlook_list_messages(limit=3)")]},
        {"tool_calls": [call("execute_code", code="submit({'subjects': len({m.subject for m in mail})})")]},
        {"content": "Counted."},
    ])
    settings = Settings(model=f"replay:{replay}", data_dir=tmp_path / "data", emulator_url=emulator.url,
                        sandbox=backend)
    surface = RecordingSurface()
    async with open_codemem(settings) as codemem:
        await say(codemem, surface, "count my recent subjects")
        outputs = tool_outputs(await state_of(codemem), "execute_code")
    assert not any("Error" in output for output in outputs)
    assert surface.shown(Answer)[-1].data == {"subjects": 3}
