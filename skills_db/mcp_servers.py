"""The MCP servers an admin registered (their bearer tokens encrypted like the connections' secrets), and the
tool schemas each skill version was made with."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, delete, select
from sqlmodel import Session

from skills_db.connections import TokenCipher
from skills_db.models import McpServer, McpToolPin

AUTH_KINDS = ("none", "bearer", "oauth")


@dataclass(frozen=True)
class RegisteredServer:
    """A server as the registry keeps it; `token` is the decrypted bearer token of a `bearer` server."""

    name: str
    url: str
    auth: str
    trusted: bool
    token: str | None
    added_by: str


class McpServerStore:
    """Add, list and remove MCP servers; pin and read the MCP tool schemas of skill versions."""

    def __init__(self, engine: Engine, cipher: TokenCipher | None = None) -> None:
        self.engine = engine
        self.cipher = cipher

    def add(self, name: str, url: str, *, auth: str = "none", trusted: bool = False, token: str | None = None,
            added_by: str) -> RegisteredServer:
        """Register (or replace) a server. A `bearer` server needs `token`, which is stored encrypted."""
        if auth not in AUTH_KINDS:
            raise ValueError(f"auth must be one of {', '.join(AUTH_KINDS)}, not {auth!r}")
        if (auth == "bearer") != (token is not None):
            raise ValueError("a token is given for, and only for, --auth bearer")
        secret = None
        if token is not None:
            if self.cipher is None:
                raise ValueError("storing a bearer token needs the secret keys (CODEMEM_SECRET_KEYS)")
            secret = self.cipher.encrypt({"token": token})
        with Session(self.engine) as session:
            row = session.get(McpServer, name) or McpServer(name=name, url=url, added_by=added_by)
            row.url, row.auth, row.trusted, row.secret, row.added_by = url, auth, trusted, secret, added_by
            session.add(row)
            session.commit()
        return RegisteredServer(name, url, auth, trusted, token, added_by)

    def list(self) -> list[RegisteredServer]:
        """Every registered server, by name; bearer tokens decrypted (so the keys must be set for those)."""
        with Session(self.engine) as session:
            rows = session.exec(select(McpServer).order_by(McpServer.name)).scalars().all()
        return [self._registered(row) for row in rows]

    def get(self, name: str) -> RegisteredServer | None:
        with Session(self.engine) as session:
            row = session.get(McpServer, name)
        return None if row is None else self._registered(row)

    def remove(self, name: str) -> bool:
        """Forget a server; False when there was none by that name."""
        with Session(self.engine) as session:
            removed = session.exec(delete(McpServer).where(McpServer.name == name)).rowcount
            session.commit()
        return bool(removed)

    def pin(self, pins: list[McpToolPin]) -> None:
        """Remember the MCP tools (and their input schemas) of a skill version."""
        if not pins:
            return
        with Session(self.engine) as session:
            for pin in pins:
                session.merge(pin)
            session.commit()

    def pins(self, skill_id: int, version: int) -> list[McpToolPin]:
        """The MCP tools the skill version was made with."""
        with Session(self.engine) as session:
            return list(session.exec(select(McpToolPin).where(McpToolPin.skill_id == skill_id,
                                                              McpToolPin.version == version)).scalars().all())

    def _registered(self, row: McpServer) -> RegisteredServer:
        token = None
        if row.secret is not None:
            if self.cipher is None:
                raise ValueError(f"the MCP server {row.name} has a stored token: set CODEMEM_SECRET_KEYS to read it")
            token = self.cipher.decrypt(row.secret)["token"]
        return RegisteredServer(row.name, row.url, row.auth, row.trusted, token, row.added_by)
