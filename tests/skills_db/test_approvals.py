"""Owner approval, immutable versions with diffs and restore, run policy, deletion, export and import."""

from __future__ import annotations

import pytest

from skills_db import (
    InvalidSkillFile,
    Owner,
    RunPolicy,
    SkillNotFound,
    SkillStore,
    VersionNotFound,
)

from .conftest import FakeClock

CODE_V1 = "async def run(days_back: int = 15) -> dict:\n    return {'days': days_back}\n"
CODE_V2 = "async def run(days_back: int = 7) -> dict:\n    return {'days': days_back, 'v': 2}\n"
TOOLS = ["outlook_list_messages", "onedrive_upload_file"]


def test_owner_approval_is_recorded_with_who_and_when(store: SkillStore, alice: Owner, clock: FakeClock) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    clock.advance(minutes=1)
    approved = store.approve(skill.id, alice, 1, note="looked at the preview")

    assert (approved.status, approved.current_version) == ("active", 1)
    [decision] = store.approvals(skill.id, alice)
    assert (decision.version, decision.decision, decision.by, decision.note) == (1, "approved", alice, "looked at the preview")
    assert decision.decided_at == clock.now
    assert decision.share_id is None


def test_a_new_version_runs_only_after_its_own_approval(store: SkillStore, alice: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    store.approve(skill.id, alice, 1)
    store.add_version(skill.id, alice, CODE_V2, TOOLS)
    assert store.find_runnable(alice, "bridge").version.version == 1

    store.reject(skill.id, alice, 2, note="wrong default")
    assert store.find_runnable(alice, "bridge").version.version == 1
    store.approve(skill.id, alice, 2)
    assert store.find_runnable(alice, "bridge").version.code == CODE_V2
    assert [(d.version, d.decision) for d in store.approvals(skill.id, alice)] == [
        (1, "approved"),
        (2, "rejected"),
        (2, "approved"),
    ]


def test_activate_records_an_approval_once(store: SkillStore, alice: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    store.activate(skill.id, alice)
    store.activate(skill.id, alice)
    assert len(store.approvals(skill.id, alice)) == 1


def test_a_draft_cannot_run(store: SkillStore, alice: Owner) -> None:
    from skills_db import SkillNotRunnable

    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    assert store.find_runnable(alice, "bridge") is None
    with pytest.raises(SkillNotRunnable, match="is a draft: its owner must approve it"):
        store.get_runnable(skill.id, alice)


def test_diff_between_two_versions(store: SkillStore, alice: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    store.add_version(skill.id, alice, CODE_V2, ["outlook_list_messages", "onedrive_ensure_folder"])

    diff = store.diff(skill.id, alice, 1, 2)

    assert diff.code_diff.startswith("--- bridge v1\n+++ bridge v2\n")
    assert "-async def run(days_back: int = 15) -> dict:\n" in diff.code_diff
    assert "+async def run(days_back: int = 7) -> dict:\n" in diff.code_diff
    assert (diff.tools_added, diff.tools_removed) == (["onedrive_ensure_folder"], ["onedrive_upload_file"])
    assert diff.text.splitlines()[:2] == ["+ tool onedrive_ensure_folder", "- tool onedrive_upload_file"]
    with pytest.raises(VersionNotFound):
        store.diff(skill.id, alice, 1, 9)


def test_restore_copies_an_old_version_as_the_newest(store: SkillStore, alice: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    store.approve(skill.id, alice, 1)
    store.add_version(skill.id, alice, CODE_V2, TOOLS)
    store.approve(skill.id, alice, 2)

    restored = store.restore(skill.id, alice, 1)

    assert (restored.version, restored.code, restored.restored_from) == (3, CODE_V1, 1)
    assert store.get(skill.id, alice).current_version == 2  # still needs approval
    assert [v.version for v in store.versions(skill.id, alice)] == [1, 2, 3]
    assert store.diff(skill.id, alice, 1, 3).code_diff == ""


def test_run_policy_is_stored_per_skill(store: SkillStore, alice: Owner, bob: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    assert store.run_policy(skill) == RunPolicy()
    updated = store.set_run_policy(skill.id, alice, RunPolicy(max_attempts=5, backoff_seconds=1, pause_after=2))
    assert store.run_policy(updated) == RunPolicy(max_attempts=5, backoff_seconds=1, pause_after=2)
    assert RunPolicy(backoff_seconds=2, backoff_factor=3, max_backoff_seconds=10).delay_after(3) == 10
    with pytest.raises(SkillNotFound):
        store.set_run_policy(skill.id, bob, RunPolicy())
    with pytest.raises(ValueError, match="max_attempts must be 1-10"):
        RunPolicy(max_attempts=0)


def test_the_owner_deletes_a_skill_with_everything_it_has(store: SkillStore, alice: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    store.approve(skill.id, alice, 1)
    run = store.start_run(skill.id, 1, alice.user_ref, "command", {})
    store.finish_run(run.id, "succeeded")
    store.memory.apply(skill.id, {"seen": [1]})
    store.schedules.set(skill.id, alice, "0 9 * * MON", "Europe/Paris")

    store.delete(skill.id, alice)

    assert store.list_skills(alice) == []
    assert store.runs(skill.id) == []
    assert store.memory.snapshot(skill.id) == {}
    assert store.schedules.of_owner(alice) == []


# ----------------------------------------------------------------------------------- export / import


def test_export_is_readable_python_and_imports_back(store: SkillStore, alice: Owner, bob: Owner) -> None:
    skill = store.create_draft(alice, "bridge", 'Copies "attachments"', CODE_V1, TOOLS)
    text = store.export_file(skill.id, alice)

    assert text.startswith("# /// codemem-skill\n# name = \"bridge\"\n")
    assert '# tools = [\n#     "outlook_list_messages",' in text or '# tools = ["outlook_list_messages"' in text
    assert text.endswith("\n\n" + CODE_V1)
    compile(text, "bridge.py", "exec")  # the file is plain Python

    imported, version = store.import_file(bob, text)
    assert (imported.name, imported.description, imported.status) == ("bridge", 'Copies "attachments"', "draft")
    assert (version.code, version.tools) == (CODE_V1, TOOLS)


def test_importing_a_known_name_adds_a_version_waiting_for_approval(store: SkillStore, alice: Owner) -> None:
    skill = store.create_draft(alice, "bridge", "", CODE_V1, TOOLS)
    store.approve(skill.id, alice, 1)
    edited = store.export_file(skill.id, alice).replace("days_back: int = 15", "days_back: int = 30")

    same, version = store.import_file(alice, edited)

    assert (same.id, version.version, same.current_version) == (skill.id, 2, 1)
    assert version.parameters[0]["default"] == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CODE_V1, "found no '# /// codemem-skill' header blocks"),
        ("# /// codemem-skill\n# name = \n# ///\n" + CODE_V1, "is not valid TOML"),
        ("# /// codemem-skill\n# tools = 3\n# ///\n" + CODE_V1, 'name = "..." is missing; tools must be a list'),
    ],
)
def test_unusable_files_are_refused(store: SkillStore, alice: Owner, text: str, message: str) -> None:
    with pytest.raises(InvalidSkillFile) as raised:
        store.import_file(alice, text)
    assert message in str(raised.value)
    assert store.list_skills(alice) == []
