"""Sharing with channels and teams: approvers, recorded decisions, and no way into someone else's private skill."""

from __future__ import annotations

import pytest

from skills_db import (
    Caller,
    NotAllowed,
    Owner,
    RunNotFound,
    ShareNotFound,
    ShareScope,
    SkillNotFound,
    SkillNotRunnable,
    SkillStore,
    VersionNotFound,
)

from .conftest import FakeClock

CODE_V1 = "async def run(days_back: int = 15) -> dict:\n    return {}\n"
CODE_V2 = "async def run(days_back: int = 7) -> dict:\n    return {'v': 2}\n"
CHANNEL = ShareScope.of_channel("slack", "T123", "C-FIN")
TEAM = ShareScope.of_team("slack", "T123")


@pytest.fixture
def carol() -> Owner:
    """Carol approves skills for the finance channel."""
    return Owner("slack", "T123", "U-CAROL")


@pytest.fixture
def skill_id(store: SkillStore, alice: Owner) -> int:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, ["outlook_list_messages"])
    store.approve(skill.id, alice, 1)
    return skill.id


def in_finance(user: Owner) -> Caller:
    return Caller(user, channel="C-FIN")


def test_a_share_is_runnable_only_after_an_approver_approves(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int, clock: FakeClock
) -> None:
    store.sharing.add_approver(CHANNEL, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, CHANNEL)

    assert store.find_runnable(in_finance(bob), "bridge") is None  # pending: invisible to members
    with pytest.raises(SkillNotFound):
        store.get(skill_id, in_finance(bob))
    [review] = store.sharing.pending(carol)
    assert (review.share.id, review.version.version, review.previous) == (share.id, 1, None)

    clock.advance(minutes=3)
    store.sharing.approve(share.id, carol, 1, note="fine for finance")

    runnable = store.find_runnable(in_finance(bob), "bridge")
    assert runnable is not None and runnable.shared and runnable.version.version == 1
    assert store.sharing.pending(carol) == []
    decisions = store.approvals(skill_id, alice)
    assert [(d.decision, d.by, d.share_id, d.decided_at) for d in decisions][-1] == ("approved", carol, share.id, clock.now)


def test_a_channel_share_reaches_only_that_channel(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int
) -> None:
    store.sharing.add_approver(CHANNEL, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, CHANNEL)
    store.sharing.approve(share.id, carol, 1)

    assert store.find_runnable(Caller(bob, channel="C-OTHER"), "bridge") is None
    assert store.find_runnable(bob, "bridge") is None  # a DM: no channel
    other_workspace = Caller(Owner("slack", "T999", "U789"), channel="C-FIN")
    assert store.find_runnable(other_workspace, "bridge") is None
    assert [r.skill.name for r in store.list_runnable(in_finance(bob))] == ["bridge"]


def test_a_team_share_reaches_everyone_in_the_workspace(store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int) -> None:
    store.sharing.add_approver(TEAM, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, TEAM)
    store.sharing.approve(share.id, carol, 1)
    assert store.get_runnable(skill_id, bob).version.version == 1


def test_members_run_the_approved_version_until_a_newer_one_is_approved(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int
) -> None:
    store.sharing.add_approver(CHANNEL, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, CHANNEL)
    store.sharing.approve(share.id, carol, 1)
    store.add_version(skill_id, alice, CODE_V2, [])
    store.approve(skill_id, alice, 2)

    assert store.get_runnable(skill_id, in_finance(bob)).version.version == 1
    with pytest.raises(VersionNotFound, match="shared with you at version 1 only"):
        store.get_version(skill_id, in_finance(bob), 2)
    [review] = store.sharing.pending(carol)
    assert (review.version.version, review.previous.version) == (2, 1)
    with pytest.raises(VersionNotFound, match="version 2 is"):
        store.sharing.approve(share.id, carol, 1)  # not what the review showed

    store.sharing.reject(share.id, carol, 2, note="uses a new tool")
    assert store.sharing.pending(carol) == []
    assert store.get_runnable(skill_id, in_finance(bob)).version.version == 1
    store.sharing.approve(share.id, carol, 2)
    assert store.get_runnable(skill_id, in_finance(bob)).version.version == 2
    assert [d.decision for d in store.approvals(skill_id, alice) if d.share_id] == ["approved", "rejected", "approved"]


def test_only_approvers_of_the_scope_can_review_or_approve(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int
) -> None:
    store.sharing.add_approver(CHANNEL, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, CHANNEL)
    for outsider in (bob, alice, Owner("slack", "T999", carol.user)):
        with pytest.raises(ShareNotFound):
            store.sharing.approve(share.id, outsider, 1)
        with pytest.raises(ShareNotFound):
            store.sharing.review(share.id, outsider)
        assert store.sharing.pending(outsider) == []
    assert store.sharing.approvers(CHANNEL) == [carol.user]
    assert store.sharing.add_approver(CHANNEL, carol.user, added_by="admin") is False
    assert store.sharing.remove_approver(CHANNEL, carol.user) is True
    with pytest.raises(ShareNotFound):
        store.sharing.approve(share.id, carol, 1)


def test_members_can_run_but_never_change(store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int) -> None:
    store.sharing.add_approver(TEAM, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, TEAM)
    store.sharing.approve(share.id, carol, 1)
    for change in (
        lambda: store.add_version(skill_id, bob, CODE_V2, []),
        lambda: store.approve(skill_id, bob, 1),
        lambda: store.disable(skill_id, bob),
        lambda: store.delete(skill_id, bob),
        lambda: store.sharing.share(skill_id, bob, CHANNEL),
        lambda: store.schedules.set(skill_id, bob, "0 9 * * *", "UTC"),
        lambda: store.memory.clear(skill_id, bob),
    ):
        with pytest.raises(NotAllowed, match="only the owner of skill 'bridge'"):
            change()


def test_a_view_share_shows_the_code_but_does_not_run(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int
) -> None:
    store.sharing.add_approver(TEAM, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, TEAM, role="view")
    store.sharing.approve(share.id, carol, 1)
    assert store.get_version(skill_id, bob).code == CODE_V1
    assert store.find_runnable(bob, "bridge") is None
    with pytest.raises(SkillNotRunnable, match="shared with you to read, not to run"):
        store.get_runnable(skill_id, bob)


def test_disabling_or_unsharing_takes_it_away_from_members(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int
) -> None:
    store.sharing.add_approver(TEAM, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, TEAM)
    store.sharing.approve(share.id, carol, 1)
    store.disable(skill_id, alice)
    with pytest.raises(SkillNotFound):
        store.get_runnable(skill_id, bob)
    store.activate(skill_id, alice)
    assert store.sharing.unshare(skill_id, alice, TEAM) is True
    with pytest.raises(SkillNotFound):
        store.get(skill_id, bob)
    assert store.sharing.unshare(skill_id, alice, TEAM) is False


def test_a_private_skill_is_unreachable_by_every_path(store: SkillStore, alice: Owner, bob: Owner, skill_id: int) -> None:
    """Slash command (by name), button (a forged skill id or run id), and every API call."""
    run = store.start_run(skill_id, 1, alice.user_ref, "command", {"days_back": 3})
    store.finish_run(run.id, "succeeded", result={"secret": "alice's mail"})
    store.memory.apply(skill_id, {"seen": ["m1"]})
    for caller in (bob, Caller(bob, channel="C-FIN")):
        assert store.find_runnable(caller, "bridge") is None
        assert store.list_runnable(caller) == []
        for attempt in (
            lambda: store.get(skill_id, caller),
            lambda: store.get_version(skill_id, caller),
            lambda: store.get_runnable(skill_id, caller),
            lambda: store.versions(skill_id, caller),
            lambda: store.diff(skill_id, caller, 1, 1),
            lambda: store.history(skill_id, caller),
            lambda: store.export_file(skill_id, caller),
        ):
            with pytest.raises(SkillNotFound):
                attempt()
        with pytest.raises(RunNotFound):
            store.get_run(run.id, caller)
    for attempt in (
        lambda: store.approvals(skill_id, bob),
        lambda: store.memory.items(skill_id, bob),
        lambda: store.schedules.get(skill_id, bob),
        lambda: store.sharing.shares(skill_id, bob),
        lambda: store.sharing.share(skill_id, bob, TEAM),
        lambda: store.restore(skill_id, bob, 1),
        lambda: store.reject(skill_id, bob, 1),
    ):
        with pytest.raises(SkillNotFound):
            attempt()


def test_history_keeps_each_members_runs_to_themselves(
    store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int
) -> None:
    store.sharing.add_approver(TEAM, carol.user, added_by="admin")
    share = store.sharing.share(skill_id, alice, TEAM)
    store.sharing.approve(share.id, carol, 1)
    mine = store.start_run(skill_id, 1, alice.user_ref, "command", {})
    scheduled = store.start_run(skill_id, 1, "schedule:1", "schedule", {})
    by_agent = store.start_run(skill_id, 1, "agent:slack:T123:C1:1.2", "agent", {})
    bobs = store.start_run(skill_id, 1, bob.user_ref, "command", {})

    assert {run.id for run in store.history(skill_id, alice)} == {mine.id, scheduled.id, by_agent.id}
    assert [run.id for run in store.history(skill_id, bob)] == [bobs.id]
    assert store.get_run(bobs.id, bob).id == bobs.id
    with pytest.raises(RunNotFound):
        store.get_run(bobs.id, alice)


def test_shared_names_can_be_ambiguous(store: SkillStore, alice: Owner, bob: Owner, carol: Owner, skill_id: int) -> None:
    from skills_db import AmbiguousSkillName

    dave = Owner("slack", "T123", "U-DAVE")
    other = store.create_draft(dave, "bridge", "", CODE_V1, [])
    store.approve(other.id, dave, 1)
    store.sharing.add_approver(TEAM, carol.user, added_by="admin")
    for owner, sid in ((alice, skill_id), (dave, other.id)):
        share = store.sharing.share(sid, owner, TEAM)
        store.sharing.approve(share.id, carol, 1)
    with pytest.raises(AmbiguousSkillName, match="pick one by id"):
        store.find_runnable(bob, "bridge")
    assert store.find_runnable(alice, "bridge").skill.id == skill_id  # your own comes first
