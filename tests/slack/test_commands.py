"""`/skill list | run | show | history | schedule | unschedule | share | delete | help`, as a Slack user sees them."""

from __future__ import annotations

from bot.surfaces.slack_blocks import DELETE_ACTION
from tests.fakes.slack_api import FakeMessage
from tests.slack.conftest import (ALICE, BOB, CHANNEL, ECHO, NEEDS_CUSTOMER, SlackWorld, buttons, current_values,
                                  owner)


async def test_list_shows_runnable_skills_with_buttons(world: SlackWorld) -> None:
    empty = await world.command(ALICE, "list")
    assert "no saved skills yet" in empty["text"] + str(empty["blocks"])
    skill = world.skill(ALICE, "echo", ECHO)
    listing = await world.command(ALICE, "list")
    assert "*echo* (v1)" in str(listing["blocks"]) and "days_back: int = 15" in str(listing["blocks"])
    assert {(b["text"]["text"], b["value"]) for b in buttons(listing)} == {
        ("Run", str(skill.id)), ("Schedule", str(skill.id)), ("History", str(skill.id))}
    assert (await world.command(BOB, "list"))["text"] == "No saved skills yet.", "Alice's skills are hers"


async def test_run_parses_like_a_shell_acks_then_posts_the_result(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    ack = await world.command(ALICE, 'run echo days_back=30 folder="Email Attachments"')
    assert "Running `echo` v1 (days_back=30, folder=Email Attachments, rows=0)" in ack["text"]
    await world.settle()
    report = world.find("finished in", CHANNEL)
    assert '"days_back": 30' in report.blocks[1]["text"]["text"] and "Email Attachments" in str(report.blocks)
    runs = world.store.runs(world.store.find_active(owner(ALICE), "echo")[0].id)
    assert [(r.status, r.parameters, r.trigger) for r in runs] == [
        ("succeeded", {"days_back": 30, "folder": "Email Attachments", "rows": 0}, "command")]


async def test_bad_arguments_say_what_was_wrong_and_show_the_usage(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    wrong_type = await world.command(ALICE, "run echo days_back=soon")
    assert "days_back must be a whole number, got 'soon'" in wrong_type["text"]
    assert "Parameters of `echo`: days_back: int = 15" in wrong_type["text"] and "Usage:" in wrong_type["text"]
    typo = await world.command(ALICE, "run echo day_back=3")
    assert "did you mean days_back?" in typo["text"]
    quotes = await world.command(ALICE, 'run echo folder="unclosed')
    assert "could not read that command" in quotes["text"] and "Usage:" in quotes["text"]
    unknown = await world.command(ALICE, "frobnicate echo")
    assert "I don't know `/skill frobnicate`" in unknown["text"]
    assert "needs the name of a skill" in (await world.command(ALICE, "show"))["text"]
    assert "Usage:" in (await world.command(ALICE, "help"))["text"]
    assert "no saved skill named `nope`" in (await world.command(ALICE, "run nope"))["text"]
    await world.settle()
    assert world.store.runs(world.store.find_active(owner(ALICE), "echo")[0].id) == [], "nothing ran"


async def test_missing_parameters_open_the_run_modal(world: SlackWorld) -> None:
    world.skill(ALICE, "report", NEEDS_CUSTOMER)
    await world.command(ALICE, "run report days_back=3")
    view = world.last_view()
    assert view["callback_id"] == "codemem_run_modal"
    assert current_values(view) == {"param_customer": "", "param_days_back": "3"}, "what was typed is kept"
    refused = await world.submit(ALICE, view, {})
    assert refused["response_action"] == "errors" and "param_customer" in refused["errors"]
    assert await world.submit(ALICE, view, {"param_customer": "Fabrikam"}) == {}
    await world.settle()
    report = world.find("finished in", CHANNEL)
    assert "Fabrikam" in str(report.blocks) and '"days_back": 3' in str(report.blocks)


async def test_show_history_schedule_unschedule_delete(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO, description="Reports the window")
    shown = await world.command(ALICE, "show echo")
    blocks = str(shown["blocks"])
    assert "echo v1 (active)" in blocks and "Reports the window" in blocks and "async def run" in blocks
    assert {b["text"]["text"] for b in buttons(shown)} == {"Run", "Preview", "Schedule", "History"}

    await world.command(ALICE, "run echo")
    await world.settle()
    history = await world.command(ALICE, "history echo")
    assert "✅ `echo` v1 succeeded" in str(history["blocks"])

    scheduled = await world.command(ALICE, 'schedule echo "0 9 * * 1" tz=Europe/Paris days_back=7')
    assert "Scheduled `echo`" in scheduled["text"] and "next run" in scheduled["text"], scheduled["text"]
    schedule = world.store.schedules.get(world.store.find_active(owner(ALICE), "echo")[0].id, owner(ALICE))
    assert (schedule.cron, schedule.timezone, schedule.arguments) == ("0 9 * * 1", "Europe/Paris", {"days_back": "7"})
    assert "🕒" in str((await world.command(ALICE, "show echo"))["blocks"])
    bad_cron = await world.command(ALICE, 'schedule echo "every monday"')
    assert "not a cron expression" in bad_cron["text"] and "Usage:" in bad_cron["text"]
    loose = await world.command(ALICE, 'schedule echo "0 9 * * 1" Europe/Paris')
    assert "not of the form key=value" in loose["text"] and "Usage:" in loose["text"]
    assert "no longer scheduled" in (await world.command(ALICE, "unschedule echo"))["text"]
    assert "had no schedule" in (await world.command(ALICE, "unschedule echo"))["text"]

    assert "no skill named 'echo' of your own" in (await world.command(BOB, "delete echo"))["text"]
    await world.command(ALICE, 'schedule echo "0 9 * * 1" tz=Europe/Paris')
    asked = await world.command(ALICE, "delete echo")
    assert asked["text"].startswith("Delete `echo`? This also deletes 1 version, 1 recorded run and its schedule (")
    assert asked["text"].endswith("). It cannot be undone.") and "Europe/Paris" in asked["text"]
    assert world.store.list_skills(owner(ALICE)) != [], "nothing is deleted before the click"
    assert "Deleted `echo`" in (await world.command(ALICE, "delete echo yes"))["text"]
    assert world.store.list_skills(owner(ALICE)) == []


async def test_delete_asks_with_a_button_that_only_the_owner_can_use(world: SlackWorld) -> None:
    world.skill(ALICE, "echo", ECHO)
    asked = await world.command(ALICE, "delete echo")
    assert asked["text"] == "Delete `echo`? This also deletes 1 version and 0 recorded runs. It cannot be undone."
    [delete] = [b for b in buttons(asked) if b["action_id"] == DELETE_ACTION]
    assert (delete["text"]["text"], delete["style"]) == ("Delete", "danger")
    card = FakeMessage(CHANNEL, "1700000000.000100", asked["text"], asked["blocks"], None, "B1")
    await world.click(BOB, card, DELETE_ACTION)
    assert "That is not yours to use" in world.whispers(BOB)[-1]
    assert world.store.list_skills(owner(ALICE)) != []
    await world.click(ALICE, card, DELETE_ACTION)
    assert "Deleted `echo` with its versions, runs, schedule and shares." in world.whispers(ALICE)[-1]
    assert world.store.list_skills(owner(ALICE)) == []
    await world.click(ALICE, card, DELETE_ACTION)
    assert "`echo` is already deleted." in world.whispers(ALICE)[-1]


async def test_schedule_without_a_cron_opens_the_schedule_modal(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "echo", ECHO)
    await world.command(ALICE, "schedule echo")
    view = world.last_view()
    assert view["callback_id"] == "codemem_schedule_modal"
    bad = await world.submit(ALICE, view, {"cron": "whenever", "timezone": "UTC"})
    assert bad["response_action"] == "errors" and "cron" in bad["errors"]
    assert await world.submit(ALICE, view, {"cron": "30 8 * * *", "timezone": "Europe/Paris",
                                            "param_days_back": "2"}) == {}
    schedule = world.store.schedules.get(skill.id, owner(ALICE))
    assert (schedule.cron, schedule.arguments["days_back"]) == ("30 8 * * *", "2")
    assert any("Scheduled `echo`" in text for text in world.whispers(ALICE))
