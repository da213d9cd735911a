"""Every view renders on every surface (Slack, Teams, terminal), and Slack's renderings stay within Block Kit's
limits however long the content is."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml

from bot.core.views import (Answer, Home, Notice, PreviewReport, Progress, Question, RunForm, RunHistory, RunLine,
                            SaveForm, ScheduleForm, ShareRequest, SkillDetail, SkillList, SkillOffer, SkillProposal,
                            SkillRunReport, SkillSummary, ToolUse)
from bot.surfaces import slack_blocks, teams_cards
from bot.surfaces.slack_install import BOT_SCOPES
from bot.surfaces.terminal import TerminalSurface
from tests.fakes.block_kit import problems

LONG = "a very long line of text & <markup> " * 400
PARAMS = [{"name": f"p{n}", "type": "int", "default": n, "required": n % 2 == 0, "description": LONG[:300]}
          for n in range(40)]
RUNS = [RunLine(n, "skill", 1, "failed", "2026-11-21T09:00:00", 1200.0, "command", LONG) for n in range(120)]
TOOLS = [ToolUse(f"tool_{n}", "write") for n in range(50)]
SUMMARIES = [SkillSummary(f"skill-{n}", LONG, 3, PARAMS, n) for n in range(80)]
VIEWS = [
    Progress(LONG, [{"content": LONG[:200], "status": "done"}] * 60), Question(LONG, ["Allow", "Deny", LONG[:80]] * 3),
    Answer(LONG, [{"k": LONG}] * 500, SkillOffer(1, "s" * 80, 2, PARAMS, LONG), {"input_tokens": 12345}),
    SkillRunReport("s", 1, False, None, LONG, LONG, 1.0, 7), SkillList(SUMMARIES), Notice(LONG * 3, error=True),
    RunHistory("s", RUNS), SkillDetail(1, "s", LONG, 2, "active", PARAMS, TOOLS, LONG, LONG, [LONG] * 20),
    RunForm(1, "s", 1, LONG, PARAMS, {"p0": LONG}, [LONG] * 5), SaveForm(1, 1, "s", LONG, PARAMS),
    ScheduleForm(1, "s", PARAMS, "0 9 * * *", "UTC", {}, LONG),
    SkillProposal(1, "s", 1, LONG, PARAMS, LONG, TOOLS, {"rows": [{"x": LONG}] * 100}, LONG, None,
                  [{"name": "upload", "args": {"x": LONG}}] * 40, "0 9 * * *", "Europe/Paris"),
    PreviewReport("s", 1, None, LONG, LONG, [{"name": "upload", "args": {}}] * 40),
    ShareRequest(1, "s", "U1", "channel C1", 2, LONG, TOOLS, LONG), Home(SUMMARIES, {"skill-1": LONG}, RUNS),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("view", VIEWS, ids=lambda view: type(view).__name__)
def test_every_view_renders_everywhere_within_limits(view: object) -> None:
    assert problems(slack_blocks.render(view)) == []
    if isinstance(view, (RunForm, SaveForm, ScheduleForm, RunHistory, SkillDetail)):
        assert problems(slack_blocks.modal(view, "{}" * 2000), "modal") == []
    if isinstance(view, Home):
        assert problems(slack_blocks.home_view(view), "home") == []
    assert len(teams_cards.card_json(teams_cards.render(view, "thread"))) <= teams_cards.CARD_BYTES_LIMIT
    out = io.StringIO()
    TerminalSurface(out)._print(view)
    assert out.getvalue()


def test_long_results_become_files_and_short_ones_do_not() -> None:
    report = SkillRunReport("s", 1, True, {"rows": [{"n": n} for n in range(1000)]}, "", None, 1.0, 1)
    filename, content = slack_blocks.attachment(report)
    assert filename == "s-result.json" and content.count('"n":') == 1000
    assert slack_blocks.attachment(SkillRunReport("s", 1, True, {"n": 1}, "", None, 1.0, 1)) is None


def test_the_manifest_asks_for_exactly_the_scopes_the_app_uses() -> None:
    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "manifest.yaml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == {"/skill", "/connect", "/disconnect"}
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_home_opened", "app_context_changed", "app_mention", "message.im"} <= events
    # Slack creates new apps with the agent messaging experience only; assistant_view is the old path
    assert manifest["features"]["agent_view"]["agent_description"]
    assert "assistant_view" not in manifest["features"] and not any(e.startswith("assistant_") for e in events)
    # Socket Mode by default: no placeholder redirect URL for Slack to reject or an admin to copy
    assert manifest["settings"]["socket_mode_enabled"] and "redirect_urls" not in manifest["oauth_config"]
