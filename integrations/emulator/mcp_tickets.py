"""A small "tickets" MCP server for the demo workspace: a provider that is only reachable through MCP.

Built with the official SDK's `MCPServer`, served over Streamable HTTP at `/mcp/tickets` (both protocol
eras from one endpoint). Its tools have typed returns, so they publish output schemas. Two tools ask the
person for input mid-call: `create_ticket` asks for a priority when none is given, and `close_ticket`
asks for a confirmation (at 2026-07-28 as an `input_required` result, at 2025-11-25 as an elicitation).
The tickets live in `TicketBook`, part of the emulator's state, so tests can inspect them
(`GET /_emulator/tickets`). (No `from __future__ import annotations`: the SDK reads the
annotations of the tools, which are local functions.)
"""

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Annotated, Literal

from mcp.server import MCPServer
from mcp.server.caching import CacheHint
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.resolve import Elicit, Resolve
from mcp_types import ToolAnnotations
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

MOUNT_PATH = "/mcp/tickets"
TOOLS_TTL_MS = 60_000
Priority = Literal["low", "normal", "high"]


class Ticket(BaseModel):
    """A support ticket."""

    id: int
    title: str
    body: str = ""
    priority: Priority = "normal"
    status: Literal["open", "closed"] = "open"
    comments: list[str] = Field(default_factory=list)


@dataclass
class TicketCall:
    """One tool call the server answered: which tool, and a digest of the Authorization header it carried."""

    tool: str
    authorization: str | None


@dataclass
class TicketBook:
    """The tickets, and the calls made to the server (for tests: which token each call carried)."""

    tickets: dict[int, Ticket] = field(default_factory=dict)
    calls: list[TicketCall] = field(default_factory=list)

    @classmethod
    def seeded(cls) -> "TicketBook":
        """A few open tickets to start from."""
        book = cls()
        for title, priority in (("VPN drops every hour", "high"), ("Printer on floor 2 jams", "normal"),
                                ("Order more USB-C cables", "low")):
            book.add(title, "", priority)
        return book

    def add(self, title: str, body: str, priority: Priority) -> Ticket:
        ticket = Ticket(id=max(self.tickets, default=0) + 1, title=title, body=body, priority=priority)
        self.tickets[ticket.id] = ticket
        return ticket

    def get(self, ticket_id: int) -> Ticket:
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise ToolError(f"there is no ticket {ticket_id}; list_tickets shows the open ones")
        return ticket

    def snapshot(self) -> dict:
        """JSON for the inspection API."""
        return {"tickets": [t.model_dump() for t in self.tickets.values()],
                "calls": [vars(c) for c in self.calls]}

    def reset(self) -> None:
        """Back to the seeded tickets, with no calls recorded (in place: the server keeps this book)."""
        seeded = TicketBook.seeded()
        self.tickets, self.calls = seeded.tickets, []


class PriorityChoice(BaseModel):
    """The priority a person picked for a new ticket."""

    priority: Priority


class CloseConfirmation(BaseModel):
    """Whether the person confirmed closing the ticket."""

    confirm: bool


def build_tickets_server(book: TicketBook) -> MCPServer:
    """The tickets MCP server acting on `book`."""
    server = MCPServer("tickets", instructions="Support tickets: list, read, create, comment on and close them.",
                       cache_hints={"tools/list": CacheHint(ttl_ms=TOOLS_TTL_MS, scope="public")})

    def record(tool: str, ctx: Context) -> None:
        header = (ctx.headers or {}).get("authorization")
        book.calls.append(TicketCall(tool, hashlib.sha256(header.encode()).hexdigest()[:16] if header else None))

    def ask_priority(priority: Priority | None) -> PriorityChoice | Elicit[PriorityChoice]:
        if priority is not None:
            return PriorityChoice(priority=priority)
        return Elicit("Which priority should the new ticket get?", PriorityChoice)

    def ask_close(ticket_id: int) -> Elicit[CloseConfirmation]:
        ticket = book.get(ticket_id)
        return Elicit(f"Close ticket {ticket.id} \"{ticket.title}\"? This cannot be undone.", CloseConfirmation)

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    async def list_tickets(ctx: Context, status: Literal["open", "closed"] | None = "open") -> list[Ticket]:
        """List tickets, newest first; by default only the open ones (status=None lists all)."""
        record("list_tickets", ctx)
        return [t for t in sorted(book.tickets.values(), key=lambda t: -t.id) if status is None or t.status == status]

    @server.tool(annotations=ToolAnnotations(readOnlyHint=True))
    async def get_ticket(ticket_id: int, ctx: Context) -> Ticket:
        """Read one ticket with its comments."""
        record("get_ticket", ctx)
        return book.get(ticket_id)

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
    async def create_ticket(title: str, ctx: Context, body: str = "", priority: Priority | None = None,
                            chosen: Annotated[PriorityChoice, Resolve(ask_priority)] = None) -> Ticket:  # type: ignore[assignment]
        """Open a new ticket; asks the person for a priority when none is given."""
        record("create_ticket", ctx)
        return book.add(title, body, chosen.priority)

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=False))
    async def comment(ticket_id: int, text: str, ctx: Context) -> Ticket:
        """Add a comment to a ticket."""
        record("comment", ctx)
        ticket = book.get(ticket_id)
        ticket.comments.append(text)
        return ticket

    @server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
    async def close_ticket(ticket_id: int, ctx: Context,
                           confirmation: Annotated[CloseConfirmation, Resolve(ask_close)] = None) -> Ticket:  # type: ignore[assignment]
        """Close a ticket; the person is asked to confirm."""
        record("close_ticket", ctx)
        ticket = book.get(ticket_id)
        if not confirmation.confirm:
            raise ToolError(f"ticket {ticket_id} was not closed: the person did not confirm")
        ticket.status = "closed"
        return ticket

    return server


def tickets_app(book: TicketBook) -> ASGIApp:
    """The tickets server as an ASGI app whose endpoint is its mount point's root."""
    return mcp_endpoint(build_tickets_server(book))


def mcp_endpoint(server: MCPServer) -> ASGIApp:
    """`server` over Streamable HTTP (stateless, JSON responses) at the root of wherever it is mounted.

    The SDK's session manager must be running while requests are served, which its app does in a lifespan;
    the emulator serves without lifespans (mounted apps never get one), so it is started on the first request
    and runs until the server's loop ends.
    """
    app = server.streamable_http_app(streamable_http_path="/")
    manager = server.session_manager
    ready: asyncio.Event | None = None

    async def run_manager(started: asyncio.Event) -> None:
        async with manager.run():
            started.set()
            await asyncio.Event().wait()

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal ready
        if ready is None:
            ready = asyncio.Event()
            asyncio.get_running_loop().create_task(run_manager(ready))
        await ready.wait()
        await app(scope, receive, send)

    return endpoint
