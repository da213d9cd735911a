"""SkillStore on a real database: life cycle, ownership, versions, runs, conversations, event de-duplication."""

from __future__ import annotations

from datetime import UTC, date

import pytest
from sqlmodel import Session, select

from skills_db import (
    ConversationNotFound,
    ImmutableVersionError,
    InvalidSkillName,
    Owner,
    RunAlreadyFinished,
    RunNotFound,
    SkillCodeError,
    SkillNameTaken,
    SkillNotFound,
    SkillParameter,
    SkillStore,
    SkillVersion,
    VersionNotFound,
)

from .conftest import FakeClock

CODE_V1 = (
    "async def run(days_back: int = 15, own_domain: str = 'contoso.com', "
    "extensions: list[str] = ['pdf', 'xlsx'], root_folder: str = 'Email Attachments') -> dict:\n"
    "    return {'copied': 0}\n"
)
CODE_V2 = CODE_V1.replace("days_back: int = 15", "days_back: int = 7")
TOOLS = ["outlook.search_messages", "onedrive.upload_file"]
THREAD = "slack:T123:C1:1763700000.000100"


def draft(store: SkillStore, owner: Owner, name: str = "attachments-bridge"):
    return store.create_draft(owner, name, "Outlook attachments to OneDrive", CODE_V1, TOOLS, THREAD)


# ---------------------------------------------------------------------------------------- life cycle


def test_draft_then_activate_makes_the_skill_findable(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    assert (skill.status, skill.current_version, skill.source_thread) == ("draft", 1, THREAD)
    assert skill.owner == alice
    assert store.find_active(alice, "attachments-bridge") is None

    activated = store.activate(skill.id, by=alice)

    assert activated.status == "active"
    found = store.find_active(alice, "attachments-bridge")
    assert found is not None
    found_skill, version = found
    assert found_skill.id == skill.id
    assert (version.version, version.code, version.tools) == (1, CODE_V1, TOOLS)
    assert [SkillParameter.from_dict(p).name for p in version.parameters] == [
        "days_back",
        "own_domain",
        "extensions",
        "root_folder",
    ]
    assert version.parameters[2] == {
        "name": "extensions",
        "type": "list[str]",
        "default": ["pdf", "xlsx"],
        "required": False,
        "description": "",
    }


def test_activating_twice_changes_nothing(store: SkillStore, alice: Owner, clock: FakeClock) -> None:
    skill = draft(store, alice)
    first = store.activate(skill.id, by=alice)
    clock.advance(minutes=5)
    second = store.activate(skill.id, by=alice)
    assert second.updated_at == first.updated_at
    assert store.get(skill.id, alice).updated_at == first.updated_at


def test_timestamps_come_back_as_aware_utc(store: SkillStore, alice: Owner, clock: FakeClock) -> None:
    skill = draft(store, alice)
    stored = store.get(skill.id, alice)
    assert stored.created_at == clock.now
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == UTC.utcoffset(None)


def test_disable_and_archive_take_the_skill_out_of_reach(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    store.activate(skill.id, by=alice)
    assert store.disable(skill.id, by=alice).status == "disabled"
    assert store.find_active(alice, "attachments-bridge") is None
    assert store.archive(skill.id, by=alice).status == "archived"
    assert store.activate(skill.id, by=alice).status == "active"


def test_list_skills_shows_only_the_owners_own_by_name(store: SkillStore, alice: Owner, bob: Owner) -> None:
    draft(store, alice, "zeta")
    draft(store, alice, "alpha")
    draft(store, bob, "bobs")
    assert [skill.name for skill in store.list_skills(alice)] == ["alpha", "zeta"]
    assert [skill.name for skill in store.list_skills(bob)] == ["bobs"]


def test_bad_code_is_refused_before_anything_is_stored(store: SkillStore, alice: Owner) -> None:
    with pytest.raises(SkillCodeError, match="no top-level `async def run"):
        store.create_draft(alice, "broken", "", "print('hi')\n", [], None)
    assert store.list_skills(alice) == []


@pytest.mark.parametrize("name", ["", "two words", "-dash-first", "x" * 65, "semi;colon"])
def test_names_that_cannot_be_typed_in_a_command_are_refused(store: SkillStore, alice: Owner, name: str) -> None:
    with pytest.raises(InvalidSkillName, match="use 1-64 letters, digits"):
        store.create_draft(alice, name, "", CODE_V1, [], None)


# ------------------------------------------------------------------------------------------- names


def test_a_name_is_unique_per_owner(store: SkillStore, alice: Owner) -> None:
    existing = draft(store, alice)
    with pytest.raises(SkillNameTaken) as raised:
        draft(store, alice)
    assert f"you already have a skill named 'attachments-bridge' (id {existing.id}, draft)" in str(raised.value)
    assert len(store.list_skills(alice)) == 1


def test_another_owner_may_reuse_a_name(store: SkillStore, alice: Owner, bob: Owner) -> None:
    mine = draft(store, alice)
    theirs = draft(store, bob)
    other_workspace = draft(store, Owner("slack", "T999", "U456"))
    on_teams = draft(store, Owner("teams", "T123", "U456"))
    assert len({mine.id, theirs.id, other_workspace.id, on_teams.id}) == 4


# ----------------------------------------------------------------------------------------- privacy


def test_someone_else_cannot_activate_a_private_skill(store: SkillStore, alice: Owner, bob: Owner) -> None:
    skill = draft(store, alice)
    with pytest.raises(SkillNotFound, match=f"you have no skill with id {skill.id}") as raised:
        store.activate(skill.id, by=bob)
    assert "attachments-bridge" not in str(raised.value)  # not even the name leaks
    assert store.get(skill.id, alice).status == "draft"


def test_someone_else_cannot_see_a_private_skill(store: SkillStore, alice: Owner, bob: Owner) -> None:
    skill = draft(store, alice)
    store.activate(skill.id, by=alice)

    with pytest.raises(SkillNotFound) as foreign:
        store.get(skill.id, bob)
    with pytest.raises(SkillNotFound) as missing:
        store.get(skill.id + 1000, bob)
    # The same answer whether the skill exists or not: nothing leaks.
    assert str(foreign.value).replace(str(skill.id), "N") == str(missing.value).replace(str(skill.id + 1000), "N")
    with pytest.raises(SkillNotFound):
        store.get_version(skill.id, bob)
    assert store.find_active(bob, "attachments-bridge") is None


def test_someone_else_cannot_change_a_private_skill(store: SkillStore, alice: Owner, bob: Owner) -> None:
    skill = draft(store, alice)
    for action in (
        lambda: store.add_version(skill.id, bob, CODE_V2, TOOLS),
        lambda: store.disable(skill.id, bob),
        lambda: store.archive(skill.id, bob),
        lambda: store.delete(skill.id, bob),
    ):
        with pytest.raises(SkillNotFound):
            action()
    assert store.get_version(skill.id, alice).code == CODE_V1


def test_acting_on_a_missing_skill_says_so(store: SkillStore, alice: Owner) -> None:
    with pytest.raises(SkillNotFound, match="you have no skill with id 4242"):
        store.activate(4242, by=alice)


# ---------------------------------------------------------------------------------------- versions


def test_a_new_version_keeps_the_old_one(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    store.activate(skill.id, by=alice)

    second = store.add_version(skill.id, alice, CODE_V2, [*TOOLS, "onedrive.create_folder"])

    assert second.version == 2
    # Still version 1 until the owner approves version 2.
    found = store.find_active(alice, "attachments-bridge")
    assert found is not None and found[1].version == 1
    store.activate(skill.id, by=alice, version=2)
    found = store.find_active(alice, "attachments-bridge")
    assert found is not None and found[1].code == CODE_V2
    assert found[1].parameters[0]["default"] == 7
    assert store.get_version(skill.id, alice, version=1).code == CODE_V1
    with pytest.raises(VersionNotFound, match="has no version 3"):
        store.activate(skill.id, by=alice, version=3)


def test_stored_versions_cannot_be_edited(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    with Session(store._engine) as session:
        row = session.exec(select(SkillVersion).where(SkillVersion.skill_id == skill.id)).one()
        row.code = "async def run():\n    return 'tampered'\n"
        session.add(row)
        with pytest.raises(ImmutableVersionError, match="immutable; store changed code as a new version"):
            session.commit()
    assert store.get_version(skill.id, alice).code == CODE_V1


def test_changing_a_returned_row_does_not_change_the_database(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    skill.name = "renamed"
    skill.status = "active"
    assert store.get(skill.id, alice).name == "attachments-bridge"
    assert store.get(skill.id, alice).status == "draft"


# -------------------------------------------------------------------------------------------- runs


def test_a_run_is_recorded_from_start_to_finish(store: SkillStore, alice: Owner, clock: FakeClock) -> None:
    skill = draft(store, alice)
    store.activate(skill.id, by=alice)

    run = store.start_run(skill.id, 1, alice.user_ref, "command", {"days_back": 7, "since": date(2026, 11, 1)})
    assert (run.status, run.triggered_by, run.finished_at) == ("running", "slack:U456", None)
    assert run.parameters == {"days_back": 7, "since": "2026-11-01"}
    clock.advance(seconds=2.5)
    finished = store.finish_run(
        run.id,
        "succeeded",
        result={"copied": 3, "folders": ["Fabrikam"]},
        logs="scanned 12 messages\n",
        tool_calls=[{"tool": "outlook.search_messages", "ok": True}],
    )

    assert finished.duration_ms == 2500
    [stored] = store.runs(skill.id, limit=5)
    assert stored.id == run.id
    assert stored.status == "succeeded"
    assert stored.result == {"copied": 3, "folders": ["Fabrikam"]}
    assert stored.logs == "scanned 12 messages\n"
    assert stored.tool_calls == [{"tool": "outlook.search_messages", "ok": True}]
    assert stored.error is None
    assert stored.finished_at == clock.now
    assert stored.parameters == {"days_back": 7, "since": "2026-11-01"}


def test_a_failed_run_keeps_its_error_and_a_run_finishes_once(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    run = store.start_run(skill.id, 1, "schedule", "schedule", {})
    failed = store.finish_run(run.id, "failed", error="GraphError: 401 token expired")
    assert (failed.status, failed.error, failed.result) == ("failed", "GraphError: 401 token expired", None)
    with pytest.raises(RunAlreadyFinished, match="already finished as failed"):
        store.finish_run(run.id, "succeeded")


def test_runs_are_listed_newest_first_and_limited(store: SkillStore, alice: Owner, clock: FakeClock) -> None:
    skill = draft(store, alice)
    started = []
    for _ in range(4):
        started.append(store.start_run(skill.id, 1, "slack:U456", "button", {}).id)
        clock.advance(minutes=1)
    assert [run.id for run in store.runs(skill.id, limit=3)] == started[::-1][:3]


def test_bad_run_requests_are_refused(store: SkillStore, alice: Owner) -> None:
    skill = draft(store, alice)
    with pytest.raises(VersionNotFound, match="has no version 9"):
        store.start_run(skill.id, 9, "slack:U456", "command", {})
    with pytest.raises(ValueError, match="trigger 'cron' is not one of command, button, schedule, agent"):
        store.start_run(skill.id, 1, "slack:U456", "cron", {})
    run = store.start_run(skill.id, 1, "slack:U456", "agent", {})
    with pytest.raises(ValueError, match="a run finishes as succeeded or failed, not 'done'"):
        store.finish_run(run.id, "done")
    with pytest.raises(RunNotFound):
        store.finish_run(run.id + 100, "succeeded")


# ----------------------------------------------------------------------------------- conversations


def test_conversation_is_created_once_and_keeps_its_requester(store: SkillStore, clock: FakeClock) -> None:
    created = store.upsert_conversation("slack", "T123", "C1", "1763700000.000100", "U456")
    assert created.thread_id == "slack:T123:C1:1763700000.000100"
    clock.advance(minutes=3)
    again = store.upsert_conversation("slack", "T123", "C1", "1763700000.000100", "U789")

    assert again.requester_user == "U456"
    assert again.created_at == created.created_at
    assert again.updated_at == clock.now
    assert store.get_conversation("slack:T123:C1:1763700000.000100") == again
    assert store.get_conversation("slack:T123:C1:nope") is None


def test_progress_message_is_remembered(store: SkillStore) -> None:
    conversation = store.upsert_conversation("slack", "T123", "C1", "1.000100", "U456")
    store.set_progress_message(conversation.thread_id, "1.000200")
    stored = store.get_conversation(conversation.thread_id)
    assert stored is not None and stored.progress_message_id == "1.000200"
    with pytest.raises(ConversationNotFound, match="record it with upsert_conversation first"):
        store.set_progress_message("slack:T123:C1:9.9", "1.000300")


# ---------------------------------------------------------------------------------------- events


def test_an_event_is_processed_once(store: SkillStore) -> None:
    assert store.mark_event_processed("Ev0001") is True
    assert store.mark_event_processed("Ev0001") is False
    assert store.mark_event_processed("Ev0002") is True


def test_event_keys_expire_after_the_ttl(store: SkillStore, clock: FakeClock) -> None:
    assert store.mark_event_processed("Ev0001") is True
    clock.advance(minutes=29)
    assert store.mark_event_processed("Ev0001") is False  # a redelivery within the TTL
    clock.advance(minutes=2)
    assert store.mark_event_processed("Ev0001") is True  # long forgotten: treated as new
