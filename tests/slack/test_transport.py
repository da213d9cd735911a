"""Transport and reliability: Socket Mode through a real SocketModeClient, OAuth installs in several workspaces,
forged signatures, redelivered events, 429s, oversized results, the assistant view, the App Home, and acks
that do not wait for the work after them."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.app import open_codemem
from bot.core.views import Notice, Progress, ThreadRef
from bot.server import http_app
from bot.surfaces.slack import build_slack_app
from bot.surfaces.slack_http import http_routes
from bot.surfaces.slack_install import SlackInstallSettings
from tests.fakes.block_kit import problems
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_signing import (event_envelope, home_block_action, signed_block_action, signed_command,
                                      signed_event, signed_interaction, unsigned)
from skills_db.models import Owner
from tests.slack.conftest import (ALICE, CHANNEL, ECHO, FLAKY, SECRET, TEAM, SlackWorld, buttons, owner, serve,
                                  settings_for, texts)


def mention(ts: str, text: str = "<@U0BOT> hello") -> dict:
    return {"type": "app_mention", "user": ALICE, "text": text, "channel": CHANNEL, "ts": ts}


async def test_forged_or_stale_requests_are_refused(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    forged = [signed_command("not-the-secret", "/skill", "run echo", ALICE, CHANNEL, TEAM),
              signed_event("not-the-secret", mention("1763700000.000001"), TEAM),
              signed_block_action("not-the-secret", ALICE, CHANNEL, TEAM, "1.000001", "codemem_run", "1"),
              signed_command(SECRET, "/skill", "run echo", ALICE, CHANNEL, TEAM, timestamp=int(time.time()) - 600)]
    for request in forged:
        assert (await world.post(request)).status_code == 401
    await world.settle()
    assert world.slack.calls == [], "nothing was done for a forged request"


async def test_redelivered_events_never_run_twice(world: SlackWorld) -> None:
    event = mention("1763700000.000002")
    for retry in (None, 1, 2):
        assert (await world.post(signed_event(SECRET, event, TEAM, "EvSAME", retry_num=retry))).status_code == 200
    # Slack also sends a message event for the same post (another event id, the same channel and ts).
    await world.post(signed_event(SECRET, {**event, "type": "message", "channel_type": "channel"}, TEAM, "EvOTHER"))
    await world.slack.async_wait_for(lambda: world.slack.messages(CHANNEL), description="the answer")
    await asyncio.sleep(0.3)   # time for a second answer (there must be none)
    answers = [m for m in world.slack.messages(CHANNEL) if "CODEMEM_MODEL" in m.text]
    assert len(answers) == 1, "one answer for one message, however often it is delivered"


async def test_rate_limits_are_retried_by_the_sdk(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    world.slack.fail_next("chat.postMessage", times=2, status=429, retry_after=1)
    await world.command(ALICE, "run echo")
    await world.settle()
    assert world.find("finished in", CHANNEL)
    assert len(world.slack.calls_to("chat.postMessage")) == 3, "two 429s, then the post went through"


async def test_oversized_results_go_out_as_a_file_within_block_limits(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    await world.command(ALICE, "run echo rows=2000")
    await world.settle()
    report = world.find("finished in", CHANNEL)
    assert "… and 1980 more rows" in texts(report) and problems({"text": report.text, "blocks": report.blocks}) == []
    files = [f for f in world.slack.files.values() if f.completed]
    assert len(files) == 1 and files[0].filename == "echo-result.json" and files[0].channel == CHANNEL
    assert files[0].content.count(b'"n":') == 2000 and files[0].thread_ts == report.ts
    # Long texts and many skills are cut to Slack's limits too.
    for n in range(60):
        world.skill(ALICE, f"skill-{n:02d}", ECHO, description="d" * 400)
    listing = await world.command(ALICE, "list")
    assert len(listing["blocks"]) <= 50 and "more: the App Home lists them all" in str(listing["blocks"])
    await world.codemem.surfaces.get("slack").post(ThreadRef("slack", TEAM, CHANNEL, ""), Notice("x" * 50_000))
    await world.settle()


async def test_agent_view_prompts_when_the_messages_tab_opens(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    opened = {"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE", "tab": "messages",
              "event_ts": "1763700100.000200"}
    await world.post(signed_event(SECRET, opened, TEAM, "EvAGENT"))
    await world.post(signed_event(SECRET, opened, TEAM, "EvAGENT", retry_num=1))
    changed = {"type": "app_context_changed", "context": {"entities": [
        {"type": "slack#/types/channel_id", "value": CHANNEL, "team_id": TEAM}]}}
    assert (await world.post(signed_event(SECRET, changed, TEAM, "EvCONTEXT"))).status_code == 200
    await world.settle()
    prompts = world.slack.suggested_prompts
    assert len(prompts) == 1, "a redelivery changes nothing"
    assert prompts[0]["channel_id"] == "D0ALICE" and "thread_ts" not in prompts[0]
    assert [p["title"] for p in prompts[0]["prompts"]] == ["Run echo", "Save my email attachments", "What can you do?"]
    assert world.slack.home_views.get(ALICE) is None, "the Messages tab is not the Home tab"
    assert world.slack.messages() == [], "a context change posts nothing"


async def test_assistant_view_prompts_and_status(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    started = {"type": "assistant_thread_started", "assistant_thread": {
        "user_id": ALICE, "channel_id": "D0ALICE", "thread_ts": "1763700100.000100", "context": {}}}
    await world.post(signed_event(SECRET, started, TEAM, "EvASSIST"))
    await world.post(signed_event(SECRET, started, TEAM, "EvASSIST", retry_num=1))
    prompts = await world.slack.async_wait_for(lambda: world.slack.suggested_prompts, description="prompts")
    await asyncio.sleep(0.3)   # time for a second, redelivered, answer (there must be none)
    prompts = world.slack.suggested_prompts
    assert len(prompts) == 1 and prompts[0]["thread_ts"] == "1763700100.000100"
    assert [p["title"] for p in prompts[0]["prompts"]][0] == "Run echo"

    surface = world.codemem.surfaces.get("slack")
    thread = ThreadRef("slack", TEAM, "D0ALICE", "1763700100.000100")
    message = await surface.post(thread, Progress("Reading your mail"))
    await surface.update(thread, message, Progress("Done", finished=True))
    await surface.post(ThreadRef("slack", TEAM, CHANNEL, "1.0"), Progress("In a channel"))
    assert world.slack.statuses == [("D0ALICE", "1763700100.000100", "is working… Reading your mail"),
                                    ("D0ALICE", "1763700100.000100", "")]


async def test_app_home_lists_skills_and_recent_runs(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "flaky", FLAKY)
    await world.command(ALICE, "run flaky")
    await world.settle()
    await world.post(signed_event(SECRET, {"type": "app_home_opened", "user": ALICE, "channel": "D0ALICE",
                                           "tab": "home"}, TEAM))
    home = await world.slack.async_wait_for(lambda: world.slack.home_views.get(ALICE), description="the App Home")
    shown = str(home["blocks"])
    assert "*flaky* (v1)" in shown and "❌ `flaky` v1 failed" in shown
    assert {(b["action_id"], b["value"]) for b in buttons(home)} >= {
        ("codemem_run", str(skill.id)), ("codemem_schedule", str(skill.id)), ("codemem_history", str(skill.id)),
        ("codemem_retry", str(world.store.runs(skill.id)[0].id))}


async def test_socket_mode_with_a_real_socket_mode_client(tmp_path: Path, fake_slack: FakeSlack, emulator) -> None:
    settings = settings_for(tmp_path, fake_slack, emulator, slack_app_token=fake_slack.app_token)
    async with open_codemem(settings) as codemem:
        app = build_slack_app(codemem, settings, SlackInstallSettings(SLACK_CLIENT_ID=None))
        store = codemem.conversations.store
        store.approve(store.create_draft(owner(ALICE), "echo", "", ECHO, []).id, owner(ALICE), 1)
        handler = AsyncSocketModeHandler(app, fake_slack.app_token)
        await handler.connect_async()
        try:
            await fake_slack.async_wait_for(lambda: fake_slack.socket_connected, description="the client to connect")
            listing = fake_slack.socket_send("slash_commands", unsigned(
                signed_command(SECRET, "/skill", "run echo days_back=4", ALICE, CHANNEL, TEAM)))
            ack = await fake_slack.async_wait_for(lambda: fake_slack.socket_ack(listing), description="the ack")
            assert "Running `echo` v1 (days_back=4" in ack["text"] and problems(ack) == []
            event = event_envelope(mention("1763700000.000009"), TEAM, "EvSOCKET")
            first = fake_slack.socket_send("events_api", event)
            again = fake_slack.socket_send("events_api", event, retry_attempt=1)
            await fake_slack.async_wait_for(lambda: fake_slack.socket_ack(first) is not None and
                                            fake_slack.socket_ack(again) is not None, description="event acks")
            await fake_slack.async_wait_for(lambda: any("finished in" in m.text for m in fake_slack.messages(CHANNEL)) and
                                            any("CODEMEM_MODEL" in m.text for m in fake_slack.messages(CHANNEL)),
                                            description="the run's report and the mention's answer")
            await codemem.jobs.drain()
            assert len([m for m in fake_slack.messages(CHANNEL) if "CODEMEM_MODEL" in m.text]) == 1
        finally:
            await handler.close_async()
    assert fake_slack.violations == []


async def test_oauth_install_in_a_second_workspace(tmp_path: Path, fake_slack: FakeSlack, emulator) -> None:
    settings = settings_for(tmp_path, fake_slack, emulator, slack_bot_token=None)
    install = SlackInstallSettings(SLACK_CLIENT_ID=fake_slack.client_id, SLACK_CLIENT_SECRET=fake_slack.client_secret)
    async with open_codemem(settings) as codemem:
        app = build_slack_app(codemem, settings, install)
        server, task, url = await serve(http_app(http_routes(app, install, signing_secret=SECRET)))
        world = SlackWorld(fake_slack, codemem, url)
        try:
            page = await world.http.get("/slack/install")
            assert page.status_code == 200
            state = re.search(r"state=([\w-]+)", page.text).group(1)
            fake_slack.install_codes["code-1"] = ("T0SECOND", "U0ADMIN")
            browser = {"Cookie": page.headers["set-cookie"].split(";")[0]}   # a Secure cookie: the browser's https
            done = await world.http.get(f"/slack/oauth_redirect?code=code-1&state={state}", headers=browser)
            assert done.status_code == 200, done.text
            replay = await world.http.get(f"/slack/oauth_redirect?code=code-1&state={state}", headers=browser)
            assert replay.status_code != 200, "an OAuth state works once"

            admin = Owner("slack", "T0SECOND", "U0ADMIN")
            world.store.approve(world.store.create_draft(admin, "echo", "", ECHO, []).id, admin, 1)
            response = await world.post(signed_command(SECRET, "/skill", "run echo", "U0ADMIN", "C0SECOND", "T0SECOND"))
            assert "Running `echo`" in response.json()["text"]
            await world.settle()
            asked = len(fake_slack.calls_to("auth.test"))
            for _ in range(3):
                listed = await world.post(signed_command(SECRET, "/skill", "list", "U0ADMIN", "C0SECOND", "T0SECOND"))
                assert "echo" in listed.text
            assert len(fake_slack.calls_to("auth.test")) == asked, "an ack does not wait on Slack's auth.test"
            posts = [c for c in fake_slack.calls if c.method == "chat.postMessage"]
            assert posts and all(fake_slack.team_of_token(c.token) == "T0SECOND" for c in posts), \
                "the second workspace's own bot token"
            unknown = await world.post(signed_command(SECRET, "/skill", "list", "U0X", "C0X", "T0UNKNOWN",
                                                      response_url=fake_slack.response_url("unknown")))
            assert "echo" not in unknown.text and not [c for c in fake_slack.calls if c.token is None
                                                       and c.method == "chat.postMessage"]
        finally:
            await world.http.aclose()
            server.should_exit = True
            await task


async def test_a_click_is_answered_before_its_work_is_done(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "echo", ECHO)
    world.slack.fail_next("views.open", retry_after=1)   # Slack makes the bot wait a second to open the form
    response = await world.post(signed_interaction(SECRET, home_block_action(ALICE, TEAM, "codemem_run", str(skill.id))))
    assert response.status_code == 200 and world.slack.views == {}, "answered before the form was opened"
    opened = await world.slack.async_wait_for(lambda: list(world.slack.views.values()), description="the form")
    assert [view["callback_id"] for view in opened] == ["codemem_run_modal"]
