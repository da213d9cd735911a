"""Buttons and modals: Save as skill → form → proposal (Approve / Edit / Dismiss), Run, Preview, Retry, History,
share approvals, choices and write grants; each checked against the clicker and safe to click twice."""

from __future__ import annotations

from bot.core.views import Answer, Question, SkillOffer, ThreadRef
from skills_db.access import ShareScope
from tests.fakes.slack_signing import home_block_action
from tests.slack.conftest import (ALICE, BOB, CHANNEL, ECHO, FLAKY, MALLORY, TEAM, SlackWorld, buttons,
                                  current_values, owner, texts)

THREAD = "1763700000.000100"


async def offer(world: SlackWorld) -> tuple[int, object]:
    """The agent proposed a draft in Alice's thread; the answer offers it."""
    draft = world.store.create_draft(owner(ALICE), "echo", "Report the window", ECHO, [], source_thread=THREAD)
    version = world.store.get_version(draft.id, owner(ALICE))
    thread = ThreadRef("slack", TEAM, CHANNEL, THREAD)
    await world.codemem.surfaces.get("slack").post(thread, Answer("Done.", {"days_back": 15}, SkillOffer(
        draft.id, "echo", 1, version.parameters)))
    return draft.id, world.find("Save as skill", CHANNEL)


async def test_save_as_skill_form_proposal_and_approve(world: SlackWorld) -> None:
    draft_id, answer = await offer(world)
    await world.click(MALLORY, answer, "codemem_save_skill_form")
    assert not [c for c in world.slack.calls if c.method == "views.open"], "no form for someone else"
    assert any("Only the person who asked" in t for t in world.whispers(MALLORY))

    await world.click(ALICE, answer, "codemem_save_skill_form")
    form = world.last_view()
    assert form["callback_id"] == "codemem_save_modal"
    assert current_values(form) == {"name": "echo", "description": "Report the window", "param_days_back": "15",
                                     "param_folder": "Inbox", "param_rows": "0", "cron": "", "timezone": "UTC"}
    problems = await world.submit(ALICE, form, {"name": "no spaces allowed", "param_days_back": "soon",
                                                "cron": "sometimes"})
    assert set(problems["errors"]) == {"name", "param_days_back", "cron"}

    assert await world.submit(ALICE, form, {"name": "window-report", "param_days_back": "30",
                                            "cron": "0 9 * * 1", "timezone": "Europe/Paris"}) == {}
    await world.settle()
    card = world.find("Proposed skill: window-report v1", CHANNEL)
    shown = texts(card)
    assert "days_back" in shown and "= `30`" in shown and "days_back: int = 30" in shown, "the new default is in the code"
    assert "Dry run* ✅" in shown and '\\"days_back\\": 30' in shown, "the preview ran with the new default"
    assert "0 9 * * 1" in shown and [b["text"]["text"] for b in buttons(card)] == ["Approve", "Edit", "Dismiss"]
    assert [s.name for s in world.store.list_skills(owner(ALICE))] == ["window-report"], "the draft was renamed"

    await world.click(MALLORY, card, "codemem_proposal_approve")
    assert world.store.find_active(owner(ALICE), "window-report") is None, "someone else cannot approve"
    await world.click(ALICE, card, "codemem_proposal_approve")
    await world.click(ALICE, card, "codemem_proposal_approve")   # a double click
    skill, version = world.store.find_active(owner(ALICE), "window-report")
    assert version.parameters[0]["default"] == 30
    assert len(world.store.approvals(skill.id, owner(ALICE))) == 1, "approved once"
    assert world.store.schedules.get(skill.id, owner(ALICE)).timezone == "Europe/Paris"
    decided = world.slack.message(CHANNEL, card.ts)
    assert not buttons(decided) and "Approved by <@U0ALICE>" in texts(decided)


async def test_edit_and_dismiss_a_proposal(world: SlackWorld) -> None:
    draft_id, answer = await offer(world)
    await world.click(ALICE, answer, "codemem_save_skill_form")
    await world.submit(ALICE, world.last_view(), {})
    await world.settle()
    card = world.find("Proposed skill: echo v1", CHANNEL)
    await world.click(ALICE, card, "codemem_proposal_edit")
    again = world.last_view()
    assert again["callback_id"] == "codemem_save_modal" and current_values(again)["name"] == "echo"

    await world.click(MALLORY, card, "codemem_proposal_dismiss")
    assert world.store.list_skills(owner(ALICE)), "someone else cannot dismiss it"
    await world.click(ALICE, card, "codemem_proposal_dismiss")
    await world.click(ALICE, card, "codemem_proposal_dismiss")
    assert world.store.list_skills(owner(ALICE)) == [], "a dismissed draft is gone"
    assert "Dismissed `echo`" in texts(world.slack.message(CHANNEL, card.ts))


async def test_one_click_save_still_works_and_is_idempotent(world: SlackWorld) -> None:
    draft_id, answer = await offer(world)
    await world.click(ALICE, answer, "codemem_save_skill")
    await world.click(ALICE, answer, "codemem_save_skill")
    assert world.find("already saved", CHANNEL) and world.store.find_active(owner(ALICE), "echo")


async def test_run_button_from_the_app_home_and_history_modal(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "echo", ECHO)
    await world.interact(home_block_action(ALICE, TEAM, "codemem_run", str(skill.id)))
    form = world.last_view()
    assert form["callback_id"] == "codemem_run_modal" and current_values(form)["param_days_back"] == "15"
    assert await world.submit(ALICE, form, {"param_days_back": "3"}) == {}
    await world.settle()
    assert "finished in" in world.slack.messages(ALICE)[-1].text, "a run from the Home is reported by DM"

    await world.interact(home_block_action(ALICE, TEAM, "codemem_history", str(skill.id)))
    assert "✅ `echo` v1 succeeded" in str(world.last_view()["blocks"])
    opened = len([c for c in world.slack.calls if c.method == "views.open"])
    await world.interact(home_block_action(MALLORY, TEAM, "codemem_run", str(skill.id)))
    await world.interact(home_block_action(MALLORY, TEAM, "codemem_history", str(skill.id)))
    await world.interact(home_block_action(MALLORY, TEAM, "codemem_run", "not-a-number"))
    assert len([c for c in world.slack.calls if c.method == "views.open"]) == opened, "nothing opens for others"
    assert sum("not yours" in t for t in world.whispers(MALLORY)) == 2


async def test_retry_a_failed_run_once_and_only_by_its_owner(world: SlackWorld) -> None:
    world.skill(ALICE, "flaky", FLAKY)
    await world.command(ALICE, "run flaky")
    await world.settle()
    failed = world.find("failed after", CHANNEL)
    assert "the mailbox is unreachable" in texts(failed)
    await world.click(MALLORY, failed, "codemem_retry")
    await world.click(ALICE, failed, "codemem_retry")
    await world.click(ALICE, failed, "codemem_retry")   # a double click
    await world.settle()
    runs = world.store.runs(world.store.find_active(owner(ALICE), "flaky")[0].id)
    assert [r.status for r in runs] == ["succeeded", "failed"], "one retry, and it worked"
    assert any("not yours" in t for t in world.whispers(MALLORY))
    assert not buttons(world.slack.message(CHANNEL, failed.ts)), "the Retry button is gone"


async def test_preview_is_a_dry_run(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "echo", ECHO)
    shown = await world.command(ALICE, "show echo")
    assert any(b["action_id"] == "codemem_preview" for b in buttons(shown))
    await world.interact(home_block_action(ALICE, TEAM, "codemem_preview", str(skill.id)))
    await world.settle()
    assert any("Dry run of `echo` v1 ✅ finished" in t for t in world.whispers(ALICE))
    assert world.store.runs(skill.id) == [], "a preview is not a run"


async def test_share_requests_go_to_approvers_who_approve_or_reject(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "echo", ECHO)
    scope = ShareScope.of_channel("slack", TEAM, CHANNEL)
    nobody = await world.command(ALICE, "share echo channel")
    assert "no one approves skills there yet" in nobody["text"]
    world.store.sharing.add_approver(scope, BOB, added_by="admin")
    asked = await world.command(ALICE, "share echo channel run")
    assert "asked its 1 approver(s)" in asked["text"]
    await world.settle()
    request = world.find("Review: echo v1", BOB)
    assert "<@U0ALICE> shared `echo` with channel C0GENERAL" in texts(request)

    assert "no saved skill named `echo`" in (await world.command(MALLORY, "run echo"))["text"], "not yet approved"
    await world.click(MALLORY, request, "codemem_share_approve")
    await world.click(BOB, request, "codemem_share_approve")
    await world.click(BOB, request, "codemem_share_approve")
    assert world.store.sharing.shares(skill.id, owner(ALICE))[0].approved_version == 1
    assert len(world.store.approvals(skill.id, owner(ALICE))) == 2, "the owner's approval and Bob's, once"
    assert "Running `echo`" in (await world.command(MALLORY, "run echo"))["text"], "members run it now"
    assert "Running `echo`" not in (await world.command(MALLORY, "run echo", channel="C0OTHER"))["text"]


async def test_choices_and_write_grants_once_and_only_by_the_requester(world: SlackWorld) -> None:
    world.store.upsert_conversation("slack", TEAM, CHANNEL, THREAD, ALICE)
    thread = ThreadRef("slack", TEAM, CHANNEL, THREAD)
    await world.codemem.surfaces.get("slack").post(thread, Question("May I upload 12 files?", ["Allow", "Deny"]))
    question = world.find("May I upload", CHANNEL)
    assert [(b["text"]["text"], b.get("style")) for b in buttons(question)] == [("Allow", "primary"), ("Deny", "danger")]
    await world.click(MALLORY, question, "codemem_choice_0")
    assert any("Only the person who asked" in t for t in world.whispers(MALLORY))
    assert buttons(world.slack.message(CHANNEL, question.ts)), "someone else's click changes nothing"
    await world.click(ALICE, question, "codemem_choice_0")
    await world.click(ALICE, question, "codemem_choice_1")   # a second click, on the other choice
    await world.settle()
    answered = world.slack.message(CHANNEL, question.ts)
    assert not buttons(answered) and "<@U0ALICE> chose *Allow*" in texts(answered)
    assert any("already answered" in t for t in world.whispers(ALICE)), "the second click is told, privately"
    # Without a model the answer is told how to configure one: once, for the one click that counted.
    assert len([m for m in world.slack.messages(CHANNEL, THREAD) if "CODEMEM_MODEL" in m.text]) == 1


async def test_a_workspace_admin_adds_an_approver_who_then_reviews_what_waited(world: SlackWorld) -> None:
    skill = world.skill(ALICE, "echo", ECHO)
    assert "no one approves skills there yet" in (await world.command(ALICE, "share echo channel"))["text"]
    listed = await world.command(ALICE, "approvers list channel")
    assert listed["text"].startswith("Approvers of skills shared with channel C0GENERAL: none yet")

    refused = await world.command(MALLORY, f"approvers add channel <@{BOB}|bob>")
    assert refused["text"].startswith("Only a workspace admin or owner can change who approves shared skills.")
    assert world.store.sharing.approvers(ShareScope.of_channel("slack", TEAM, CHANNEL)) == []

    world.slack.admins.add(MALLORY)   # users.info now says Mallory administers the workspace
    added = await world.command(MALLORY, f"approvers add channel <@{BOB}|bob>")
    assert added["text"] == "`U0BOB` now approves skills shared with channel C0GENERAL."
    again = await world.command(MALLORY, f"approvers add channel <@{BOB}|bob>")
    assert again["text"] == "`U0BOB` already approves skills shared with channel C0GENERAL."
    await world.settle()
    request = world.find("Review: echo v1", BOB)   # the share made before anyone could approve it
    await world.click(BOB, request, "codemem_share_approve")
    assert world.store.sharing.shares(skill.id, owner(ALICE))[0].approved_version == 1
    assert "Running `echo`" in (await world.command(MALLORY, "run echo"))["text"]

    assert "`U0BOB` no longer approves" in (await world.command(MALLORY, f"approvers remove channel <@{BOB}>"))["text"]
    assert "none yet" in (await world.command(ALICE, "approvers list channel"))["text"]
