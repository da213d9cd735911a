"""Connected workspace accounts and pending OAuth sign-ins, with their secrets encrypted at rest.

Secrets (token caches, refresh tokens, PKCE verifiers) are JSON encrypted with cryptography's
MultiFernet: the first key encrypts, every key decrypts, `rotate_keys()` re-encrypts with the first.
Keys come from CODEMEM_SECRET_KEYS (comma-separated Fernet keys) or CODEMEM_SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, UniqueConstraint, delete, insert, select, update

from skills_db.owner import Owner

SECRET_KEYS_VARIABLE = "CODEMEM_SECRET_KEYS"
SECRET_KEY_VARIABLE = "CODEMEM_SECRET_KEY"

metadata = MetaData()
connections = Table(
    "workspace_connections", metadata,
    Column("id", Integer, primary_key=True),
    Column("platform", String(32), nullable=False), Column("team", String(128), nullable=False), Column("user", String(128), nullable=False),
    Column("provider", String(32), nullable=False),
    Column("account", String(320), nullable=False), Column("display_name", String(256), nullable=False),
    Column("scopes", Text, nullable=False), Column("secret", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False), Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("platform", "team", "user", "provider", name="uq_workspace_connection_owner_provider"),
)
oauth_states = Table(
    "oauth_states", metadata,
    Column("state_hash", String(64), primary_key=True),
    Column("platform", String(32), nullable=False), Column("team", String(128), nullable=False), Column("user", String(128), nullable=False),
    Column("provider", String(32), nullable=False), Column("secret", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)


class SecretKeyError(RuntimeError):
    """No usable encryption key, or a secret that none of the keys decrypts."""


class TokenCipher:
    """Encrypts JSON secrets with MultiFernet (first key encrypts; all keys decrypt)."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError(f"no encryption key: set {SECRET_KEYS_VARIABLE} to one or more Fernet keys "
                                 "(make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')")
        try:
            self._fernet = MultiFernet([Fernet(k.strip().encode()) for k in keys])
        except (ValueError, TypeError) as error:
            raise SecretKeyError(f"{SECRET_KEYS_VARIABLE} holds a key that is not a Fernet key (32 url-safe base64 bytes): {error}") from None

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> TokenCipher:
        """Keys from CODEMEM_SECRET_KEYS (comma-separated, newest first) or CODEMEM_SECRET_KEY."""
        env = os.environ if environ is None else environ
        text = env.get(SECRET_KEYS_VARIABLE) or env.get(SECRET_KEY_VARIABLE) or ""
        return cls([k for k in text.split(",") if k.strip()])

    def encrypt(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise SecretKeyError(f"a stored secret cannot be decrypted with the keys in {SECRET_KEYS_VARIABLE}: keep the old key in the list until rotate_keys() ran") from None

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()


@dataclass(frozen=True)
class StoredConnection:
    """A connected account: which user, which provider, which account, and its decrypted secret."""

    owner: Owner
    provider: str
    account: str
    display_name: str
    scopes: tuple[str, ...]
    secret: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class PendingSignIn:
    """An OAuth sign-in started by `owner` and not finished yet."""

    owner: Owner
    provider: str
    secret: dict[str, Any]


class ConnectionStore:
    """Connections and OAuth states in the given database (tables created if missing)."""

    def __init__(self, engine: Engine, cipher: TokenCipher) -> None:
        self.engine = engine
        self.cipher = cipher
        metadata.create_all(engine)

    def save(self, owner: Owner, provider: str, account: str, display_name: str, scopes: list[str] | tuple[str, ...], secret: dict[str, Any]) -> None:
        """Insert or replace the owner's connection to `provider`."""
        now = datetime.now(UTC)
        values = {"account": account, "display_name": display_name, "scopes": " ".join(scopes), "secret": self.cipher.encrypt(secret), "updated_at": now}
        with self.engine.begin() as db:
            changed = db.execute(update(connections).where(*_owner_is(connections, owner), connections.c.provider == provider).values(**values)).rowcount
            if not changed:
                db.execute(insert(connections).values(platform=owner.platform, team=owner.team, user=owner.user, provider=provider, created_at=now, **values))

    def update_secret(self, owner: Owner, provider: str, secret: dict[str, Any]) -> None:
        """Replace the stored secret (e.g. a refreshed token cache)."""
        with self.engine.begin() as db:
            db.execute(update(connections).where(*_owner_is(connections, owner), connections.c.provider == provider)
                       .values(secret=self.cipher.encrypt(secret), updated_at=datetime.now(UTC)))

    def get(self, owner: Owner, provider: str) -> StoredConnection | None:
        with self.engine.connect() as db:
            row = db.execute(select(connections).where(*_owner_is(connections, owner), connections.c.provider == provider)).mappings().first()
        if row is None:
            return None
        return StoredConnection(owner, provider, row["account"], row["display_name"], tuple(row["scopes"].split()),
                                self.cipher.decrypt(row["secret"]), row["updated_at"])

    def list_for(self, owner: Owner) -> list[StoredConnection]:
        with self.engine.connect() as db:
            providers = db.execute(select(connections.c.provider).where(*_owner_is(connections, owner)).order_by(connections.c.provider)).scalars().all()
        return [c for p in providers if (c := self.get(owner, p)) is not None]

    def delete(self, owner: Owner, provider: str) -> bool:
        with self.engine.begin() as db:
            return bool(db.execute(delete(connections).where(*_owner_is(connections, owner), connections.c.provider == provider)).rowcount)

    def add_state(self, state: str, owner: Owner, provider: str, secret: dict[str, Any], ttl: timedelta) -> None:
        """Remember a sign-in under a random `state` (only its hash is stored) for `ttl`."""
        now = datetime.now(UTC)
        with self.engine.begin() as db:
            db.execute(delete(oauth_states).where(oauth_states.c.expires_at < now))
            db.execute(insert(oauth_states).values(state_hash=_hash(state), platform=owner.platform, team=owner.team, user=owner.user,
                                                   provider=provider, secret=self.cipher.encrypt(secret), expires_at=now + ttl))

    def take_state(self, state: str, provider: str) -> PendingSignIn | None:
        """The sign-in for `state`, removed so it cannot be used twice; None if unknown, expired or for another provider."""
        with self.engine.begin() as db:
            row = db.execute(select(oauth_states).where(oauth_states.c.state_hash == _hash(state))).mappings().first()
            if row is None:
                return None
            db.execute(delete(oauth_states).where(oauth_states.c.state_hash == row["state_hash"]))
        expires = row["expires_at"] if row["expires_at"].tzinfo else row["expires_at"].replace(tzinfo=UTC)
        if expires < datetime.now(UTC) or row["provider"] != provider:
            return None
        return PendingSignIn(Owner(row["platform"], row["team"], row["user"]), provider, self.cipher.decrypt(row["secret"]))

    def rotate_keys(self) -> int:
        """Re-encrypt every stored secret with the first key; returns how many were rewritten."""
        count = 0
        with self.engine.begin() as db:
            for table, key in ((connections, connections.c.id), (oauth_states, oauth_states.c.state_hash)):
                for row in db.execute(select(key, table.c.secret)).all():
                    db.execute(update(table).where(key == row[0]).values(secret=self.cipher.rotate(row[1])))
                    count += 1
        return count


def _owner_is(table: Table, owner: Owner) -> tuple[Any, ...]:
    return table.c.platform == owner.platform, table.c.team == owner.team, table.c.user == owner.user


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
