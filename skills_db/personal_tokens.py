"""Personal tokens: a user's key to CodeMem's MCP server and HTTP API, and the API's idempotency keys.

A token is 32 random bytes shown once; only its SHA-256 is stored, so the database cannot give it back.
It acts as the user who made it, in the workspace they made it in, and sees exactly what they could in chat.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from skills_db.models import IdempotentRun, PersonalToken
from skills_db.owner import Owner
from skills_db.timestamps import utc_now

PREFIX = "cm_"
MAX_LABEL = 100
ACTIVE_LIMIT = 20   # live tokens per user


class TokenLimitReached(ValueError):
    """The user already has ``ACTIVE_LIMIT`` live tokens: revoke one first."""


@dataclass(frozen=True)
class TokenInfo:
    """A token as its owner may see it again: never the token itself."""

    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None


def token_hash(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


class PersonalTokens:
    """Issue, list, revoke and resolve personal tokens; remember the runs started under an idempotency key."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utc_now) -> None:
        self.engine = engine
        self._clock = clock

    def issue(self, owner: Owner, label: str = "") -> tuple[TokenInfo, str]:
        """A new token of ``owner``: (what they can list later, the token, to show once)."""
        token = PREFIX + secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            live = session.exec(select(PersonalToken.id).where(*_of(owner), col(PersonalToken.revoked_at).is_(None))).all()
            if len(live) >= ACTIVE_LIMIT:
                raise TokenLimitReached(f"you already have {ACTIVE_LIMIT} tokens; revoke one you no longer use first")
            row = PersonalToken(token_hash=token_hash(token), owner_platform=owner.platform, owner_team=owner.team,
                                owner_user=owner.user, label=label.strip()[:MAX_LABEL], created_at=self._clock())
            session.add(row)
            session.commit()
            session.refresh(row)
            return _info(row), token

    def list(self, owner: Owner) -> list[TokenInfo]:
        """The owner's live tokens, oldest first."""
        with Session(self.engine) as session:
            rows = session.exec(select(PersonalToken).where(*_of(owner), col(PersonalToken.revoked_at).is_(None))
                                .order_by(col(PersonalToken.id))).all()
            return [_info(row) for row in rows]

    def revoke(self, owner: Owner, token_id: int) -> bool:
        """Revoke the owner's token ``token_id``; False when they have no live token with that id."""
        with Session(self.engine) as session:
            done = session.exec(update(PersonalToken)   # type: ignore[call-overload]
                                .where(PersonalToken.id == token_id, *_of(owner),
                                       col(PersonalToken.revoked_at).is_(None))
                                .values(revoked_at=self._clock()))
            session.commit()
            return bool(done.rowcount)

    def resolve(self, token: str) -> Owner | None:
        """The user a live token acts as, else None (unknown or revoked: the caller cannot tell which)."""
        if not token.startswith(PREFIX):
            return None
        with Session(self.engine) as session:
            row = session.exec(select(PersonalToken).where(PersonalToken.token_hash == token_hash(token),
                                                           col(PersonalToken.revoked_at).is_(None))).first()
            if row is None:
                return None
            now = self._clock()
            if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:   # one write a minute at most
                session.exec(update(PersonalToken).where(PersonalToken.id == row.id)   # type: ignore[call-overload]
                             .values(last_used_at=now))
                session.commit()
            return row.owner

    # ------------------------------------------------------------------------------------ idempotency

    def claim_key(self, owner: Owner, key: str) -> tuple[bool, int | None]:
        """Claim ``key`` for a new run of ``owner``: (True, None) the first time; then (False, the run id, or
        None while the first run has not been recorded yet)."""
        with Session(self.engine) as session:
            session.add(IdempotentRun(owner_ref=_ref(owner), key=key, created_at=self._clock()))
            try:
                session.commit()
                return True, None
            except IntegrityError:
                session.rollback()
            row = session.get(IdempotentRun, (_ref(owner), key))
            return False, row.run_id if row is not None else None

    def settle_key(self, owner: Owner, key: str, run_id: int | None) -> None:
        """Tie the claimed ``key`` to the run it started; with None (the run never started) release it."""
        with Session(self.engine) as session:
            row = session.get(IdempotentRun, (_ref(owner), key))
            if row is None:
                return
            if run_id is None:
                session.delete(row)
            else:
                row.run_id = run_id
                session.add(row)
            session.commit()


def _of(owner: Owner) -> tuple:
    return (PersonalToken.owner_platform == owner.platform, PersonalToken.owner_team == owner.team,
            PersonalToken.owner_user == owner.user)


def _ref(owner: Owner) -> str:
    return f"{owner.platform}:{owner.team}:{owner.user}"


def _info(row: PersonalToken) -> TokenInfo:
    assert row.id is not None
    return TokenInfo(row.id, row.label, row.created_at, row.last_used_at)
