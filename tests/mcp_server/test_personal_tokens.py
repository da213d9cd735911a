"""`/skill mcp-token`: shown once and only privately, stored hashed, listable and revocable, scoped to its user."""

from __future__ import annotations

import re

from sqlmodel import Session, select

from bot.core.views import ThreadRef
from skills_db.models import PersonalToken
from skills_db.personal_tokens import token_hash
from tests.mcp_server.conftest import ALICE, BOB

WHERE = ThreadRef("slack", "T1", "C1", "")


async def test_a_token_is_shown_once_stored_hashed_and_resolves_to_its_user(serve) -> None:
    async with serve() as served:
        skills = served.codemem.skills
        issued = await skills.command(WHERE, ALICE, "mcp-token laptop", private=True)
        token = re.search(r"`(cm_[\w-]+)`", issued.text)[1]
        listed = await skills.command(WHERE, ALICE, "mcp-token list", private=True)
        with Session(served.codemem.engine) as session:
            stored = [row.token_hash for row in session.exec(select(PersonalToken)).all()]
        resolved = skills.tokens.tokens.resolve(token)
    assert "shown once" in issued.text and "/mcp" in issued.text
    assert token not in listed.text and "(laptop)" in listed.text
    assert token_hash(token) in stored and token not in stored
    assert resolved == ALICE


async def test_a_new_token_is_never_posted_where_others_can_read_it(serve) -> None:
    async with serve() as served:
        refused = await served.codemem.skills.command(WHERE, ALICE, "mcp-token", private=False)
        count = len(served.codemem.skills.tokens.tokens.list(ALICE))
    assert refused.error and "direct message" in refused.text and "cm_" not in refused.text
    assert count == 1   # only the fixture's


async def test_only_its_owner_can_revoke_a_token_and_then_it_stops_working(serve) -> None:
    async with serve() as served:
        skills, token = served.codemem.skills, served.tokens["UALICE"]
        token_id = skills.tokens.tokens.list(ALICE)[0].id
        by_bob = await skills.command(WHERE, BOB, f"mcp-token revoke {token_id}", private=True)
        still = skills.tokens.tokens.resolve(token)
        by_alice = await skills.command(WHERE, ALICE, f"mcp-token revoke {token_id}", private=True)
        gone = skills.tokens.tokens.resolve(token)
        bad = await skills.command(WHERE, ALICE, "mcp-token revoke soon", private=True)
    assert by_bob.error and f"no live token {token_id}" in by_bob.text and still == ALICE
    assert not by_alice.error and gone is None
    assert bad.error and "by its id" in bad.text
