"""Serving an `MCPServer` over Streamable HTTP inside the emulator, whose app runs without lifespan on two
event loops at once (its HTTP and HTTPS servers): one stateless session manager is started per loop, on
that loop's first request."""

from __future__ import annotations

import asyncio

from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

# As the SDK does for a server bound to loopback: Host and Origin must be local (DNS-rebinding protection).
LOOPBACK_ONLY = TransportSecuritySettings(
    enable_dns_rebinding_protection=True,
    allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
    allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*",
                     "https://127.0.0.1:*", "https://localhost:*", "https://[::1]:*"],
)


class McpHttpApp:
    """An ASGI app answering Streamable HTTP requests for `server` (stateless, JSON responses)."""

    def __init__(self, server: MCPServer) -> None:
        self.server = server
        self._managers: dict[asyncio.AbstractEventLoop, tuple[StreamableHTTPSessionManager, asyncio.Event]] = {}
        self._runs: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = await self._manager()
        await manager.handle_request(scope, receive, send)

    async def _manager(self) -> StreamableHTTPSessionManager:
        loop = asyncio.get_running_loop()
        if loop not in self._managers:
            # The SDK reaches the low-level server the same way (Client(MCPServer) in mcp.client.client).
            manager = StreamableHTTPSessionManager(app=self.server._lowlevel_server, stateless=True, json_response=True,
                                                   security_settings=LOOPBACK_ONLY)
            started = asyncio.Event()
            self._managers[loop] = (manager, started)
            task = loop.create_task(self._run(manager, started))
            self._runs.add(task)   # cancelled with the loop when its server stops
        manager, started = self._managers[loop]
        await started.wait()
        return manager

    @staticmethod
    async def _run(manager: StreamableHTTPSessionManager, started: asyncio.Event) -> None:
        async with manager.run():
            started.set()
            await asyncio.Event().wait()
