"""The emulator's in-memory workspace: one user's mailbox, OneDrive and spreadsheets, plus a request log.

The same mailbox is served as Outlook (Graph) and as Gmail: a message has a Graph folder and Gmail labels.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Callable, Iterator, Literal

from integrations.emulator.faults import Fault, RequestRecord
from integrations.emulator.graph_error import GraphError, item_not_found
from integrations.emulator.mcp_tickets import TicketBook
from integrations.emulator.sample_files import content_type_for

ConflictBehavior = Literal["fail", "rename", "replace"]

_INVALID_NAME_CHARACTERS = set('"*:<>?/\\|')


@dataclass
class Person:
    """A mailbox identity."""

    name: str
    address: str


class StoredAttachment:
    """A file attachment of a message; its bytes may be made on first use (seeding stays fast)."""

    __slots__ = ("id", "name", "content_type", "last_modified", "_content", "_make")

    def __init__(
        self, id: str, name: str, content_type: str, last_modified: datetime,
        content: bytes | None = None, make: Callable[[], bytes] | None = None,
    ) -> None:
        if (content is None) == (make is None):
            raise ValueError("StoredAttachment needs exactly one of content= or make=")
        self.id, self.name, self.content_type, self.last_modified = id, name, content_type, last_modified
        self._content, self._make = content, make

    @property
    def content(self) -> bytes:
        if self._content is None:
            assert self._make is not None
            self._content, self._make = self._make(), None
        return self._content

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class StoredMessage:
    """A received message."""

    id: str
    subject: str
    sender: Person
    to: list[Person]
    received: datetime
    body_text: str
    conversation_id: str
    internet_message_id: str
    is_read: bool
    attachments: list[StoredAttachment] = field(default_factory=list)
    folder: str = "inbox"
    labels: set[str] = field(default_factory=set)
    cc: list[Person] = field(default_factory=list)
    is_draft: bool = False
    body_type: Literal["text", "html"] = "text"

    @property
    def has_attachments(self) -> bool:
        return bool(self.attachments)

    @property
    def gmail_id(self) -> str:
        """The id Gmail shows for this message (16 hex digits)."""
        return hashlib.sha1(self.id.encode()).hexdigest()[:16]

    def snapshot(self) -> tuple[StoredMessage, str, bool, frozenset[str]]:
        """What `restore` needs to undo API changes (folder, read flag, labels)."""
        return self, self.folder, self.is_read, frozenset(self.labels)


    def attachment(self, attachment_id: str) -> StoredAttachment | None:
        return next((a for a in self.attachments if a.id == attachment_id), None)


def _restore(snapshot: tuple[StoredMessage, str, bool, frozenset[str]]) -> StoredMessage:
    message, message.folder, message.is_read, labels = snapshot
    message.labels = set(labels)
    return message


@dataclass
class DriveNode:
    """A OneDrive file or folder."""

    id: str
    name: str
    parent_id: str | None
    is_folder: bool
    created: datetime
    modified: datetime
    content: bytes = b""
    content_type: str | None = None


class Drive:
    """A single OneDrive with path resolution and Graph's create/replace/rename rules."""

    def __init__(self, drive_id: str, owner: Person, created: datetime) -> None:
        self.id = drive_id
        self.owner = owner
        self._next_number = 0
        root = DriveNode(self._new_id(), "root", None, True, created, created)
        self.root_id = root.id
        self.nodes: dict[str, DriveNode] = {root.id: root}

    def _new_id(self) -> str:
        self._next_number += 1
        digest = hashlib.sha1(f"{self.id}:{self._next_number}".encode()).hexdigest().upper()
        return "01" + digest[:32]

    def node(self, item_id: str) -> DriveNode:
        """The node with this id (`root` is accepted), or a 404 GraphError."""
        found = self.nodes.get(self.root_id if item_id == "root" else item_id)
        if found is None:
            raise item_not_found()
        return found

    def children(self, folder: DriveNode) -> list[DriveNode]:
        return sorted((n for n in self.nodes.values() if n.parent_id == folder.id), key=lambda n: n.name.lower())

    def child_named(self, folder: DriveNode, name: str) -> DriveNode | None:
        wanted = name.lower()  # OneDrive names are case-insensitive
        return next((n for n in self.nodes.values() if n.parent_id == folder.id and n.name.lower() == wanted), None)

    def path_of(self, node: DriveNode) -> str:
        """Path from the root without a leading slash ('' for the root)."""
        parts: list[str] = []
        while node.parent_id is not None:
            parts.append(node.name)
            node = self.nodes[node.parent_id]
        return "/".join(reversed(parts))

    def resolve(self, base: DriveNode, relative_path: str) -> DriveNode:
        """The node at `relative_path` under `base`, or a 404 GraphError."""
        node = base
        for segment in _segments(relative_path):
            child = self.child_named(node, segment) if node.is_folder else None
            if child is None:
                raise item_not_found()
            node = child
        return node

    def create_folder(self, parent: DriveNode, name: str, conflict: ConflictBehavior, now: datetime) -> DriveNode:
        """Create a folder under `parent`, applying the conflict behavior."""
        self._require_folder(parent)
        name = self._resolve_conflict(parent, _valid_name(name), conflict)
        node = DriveNode(self._new_id(), name, parent.id, True, now, now)
        self.nodes[node.id] = node
        return node

    def ensure_folders(self, base: DriveNode, relative_path: str, now: datetime) -> DriveNode:
        """The folder at `relative_path` under `base`, creating missing folders like Graph's PUT does."""
        node = base
        for segment in _segments(relative_path):
            self._require_folder(node)
            child = self.child_named(node, segment)
            node = child if child is not None else self.create_folder(node, segment, "fail", now)
        self._require_folder(node)
        return node

    def put_file(
        self, parent: DriveNode, name: str, content: bytes, conflict: ConflictBehavior, now: datetime
    ) -> tuple[DriveNode, bool]:
        """Create or overwrite a file; returns the node and whether it was newly created."""
        self._require_folder(parent)
        name = _valid_name(name)
        existing = self.child_named(parent, name)
        if existing is not None and conflict == "replace":
            if existing.is_folder:
                raise GraphError(409, "nameAlreadyExists", f"A folder named '{existing.name}' already exists.")
            existing.content = content
            existing.modified = now
            return existing, False
        name = self._resolve_conflict(parent, name, conflict)
        node = DriveNode(self._new_id(), name, parent.id, False, now, now, content, content_type_for(name))
        self.nodes[node.id] = node
        return node, True

    def files(self) -> Iterator[DriveNode]:
        return (n for n in self.nodes.values() if not n.is_folder)

    def folders(self) -> Iterator[DriveNode]:
        return (n for n in self.nodes.values() if n.is_folder and n.parent_id is not None)

    def size_of(self, node: DriveNode) -> int:
        if not node.is_folder:
            return len(node.content)
        return sum(self.size_of(child) for child in self.children(node))

    def _require_folder(self, node: DriveNode) -> None:
        if not node.is_folder:
            raise GraphError(400, "invalidRequest", f"'{node.name}' is a file, not a folder.")

    def _resolve_conflict(self, parent: DriveNode, name: str, conflict: ConflictBehavior) -> str:
        existing = self.child_named(parent, name)
        if existing is None:
            return name
        if conflict == "fail":
            raise GraphError(409, "nameAlreadyExists", f"An item named '{existing.name}' already exists.")
        if conflict == "replace":
            self._delete(existing)
            return name
        stem, dot, extension = name.rpartition(".") if "." in name[1:] else (name, "", "")
        number = 1
        while True:
            candidate = f"{stem} {number}{dot}{extension}"
            if self.child_named(parent, candidate) is None:
                return candidate
            number += 1

    def _delete(self, node: DriveNode) -> None:
        for child in self.children(node):
            self._delete(child)
        del self.nodes[node.id]


@dataclass
class Spreadsheet:
    """A Google spreadsheet: sheets by title, each a grid of cell values (rows of strings/numbers/bools)."""

    id: str
    title: str
    sheets: dict[str, list[list[Any]]]
    sheet_ids: dict[str, int]


@dataclass
class IssuedToken:
    """A token the emulator's OAuth endpoints handed out; `account` is whose it is, `resource` the RFC 8707
    audience it was issued for ("" when none was asked for)."""

    provider: str
    client_id: str
    scope: str
    expires: float
    revoked: bool = False
    account: str = ""
    resource: str = ""


@dataclass
class OAuthLedger:
    """Pending authorization codes, issued tokens and dynamically registered clients (RFC 7591) of the
    emulated sign-in services."""

    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    access_tokens: dict[str, IssuedToken] = field(default_factory=dict)
    refresh_tokens: dict[str, IssuedToken] = field(default_factory=dict)
    clients: dict[str, dict[str, Any]] = field(default_factory=dict)

    def revoke(self, provider: str | None = None) -> int:
        """Revoke every token of `provider` (all providers when None); returns how many refresh tokens."""
        count = 0
        for token in (*self.access_tokens.values(), *self.refresh_tokens.values()):
            if provider is None or token.provider == provider:
                token.revoked = True
        for token in self.refresh_tokens.values():
            count += provider is None or token.provider == provider
        return count

    def expire_access_tokens(self, provider: str | None = None) -> None:
        for token in self.access_tokens.values():
            if provider is None or token.provider == provider:
                token.expires = 0.0


class EmulatorState:
    """Everything the emulator serves; `reset()` returns to the state it was created with.

    `messages` are kept newest first; `message()` and `gmail_message()` are dictionary lookups. `accounts`
    holds the workspaces of further demo accounts by address (a second user signs in as one of them).
    """

    def __init__(
        self, user: Person, user_id: str, messages: list[StoredMessage], drive: Drive,
        spreadsheets: dict[str, Spreadsheet] | None = None,
    ) -> None:
        self.user = user
        self.user_id = user_id
        self.drive = drive
        self.spreadsheets = spreadsheets if spreadsheets is not None else {}
        self.requests: list[RequestRecord] = []
        self.faults: list[Fault] = []
        self.oauth = OAuthLedger()
        self.tickets = TicketBook.seeded()   # served by the tickets MCP server (mcp_tickets.py)
        self.accounts: dict[str, EmulatorState] = {}
        self._set_messages(messages)
        self._initial = ([m.snapshot() for m in messages], copy.deepcopy(drive), copy.deepcopy(self.spreadsheets))

    def reset(self) -> None:
        """Restore the seeded mailbox, drive and spreadsheets and clear the request log.

        Seeded messages are only changed through folder, read flag and labels; those are restored.
        """
        messages, drive, sheets = self._initial
        self._set_messages([_restore(m) for m in messages])
        self.drive, self.spreadsheets = copy.deepcopy(drive), copy.deepcopy(sheets)
        self.requests.clear()
        self.faults.clear()
        self.oauth = OAuthLedger()
        self.tickets.reset()
        for other in self.accounts.values():
            other.reset()

    def account(self, address: str) -> EmulatorState | None:
        """The workspace of the demo account `address`: this one for its own user, else one of `accounts`."""
        if address.lower() == self.user.address.lower():
            return self
        return self.accounts.get(address.lower())

    def message(self, message_id: str) -> StoredMessage | None:
        return self._by_id.get(message_id)

    def gmail_message(self, gmail_id: str) -> StoredMessage | None:
        return self._by_gmail_id.get(gmail_id)

    def add_message(self, message: StoredMessage) -> StoredMessage:
        """Store a new message (sent, draft or received), keeping newest-first order."""
        index = 0
        while index < len(self.messages) and self.messages[index].received > message.received:
            index += 1
        self.messages.insert(index, message)
        self._by_id[message.id] = message
        self._by_gmail_id[message.gmail_id] = message
        return message

    def remove_message(self, message: StoredMessage) -> None:
        self.messages.remove(message)
        self._by_id.pop(message.id, None)
        self._by_gmail_id.pop(message.gmail_id, None)

    def _set_messages(self, messages: list[StoredMessage]) -> None:
        self.messages = messages
        self._by_id = {m.id: m for m in messages}
        self._by_gmail_id = {m.gmail_id: m for m in messages}

    @staticmethod
    def now() -> datetime:
        """Wall-clock time used for timestamps of items created through the API."""
        return datetime.now(UTC).replace(microsecond=0)


def _segments(relative_path: str) -> list[str]:
    return [s for s in relative_path.split("/") if s]


def _valid_name(name: str) -> str:
    if not name or not name.strip():
        raise GraphError(400, "invalidRequest", "The item name must not be empty.")
    bad = sorted(set(name) & _INVALID_NAME_CHARACTERS)
    if bad or name != name.strip() or name.endswith("."):
        raise GraphError(
            400,
            "invalidRequest",
            f"The name '{name}' is not valid: OneDrive names cannot contain {' '.join(bad) or 'leading/trailing spaces or a trailing dot'}.",
        )
    return name
