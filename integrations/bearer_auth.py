"""Bearer-token auth for httpx2 clients (the `mcp` SDK's transport): one refresh after a 401."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

import httpx2


class BearerAuth(httpx2.Auth):
    """Sends `Authorization: Bearer <token()>`; after a 401 it asks `refresh()` for a new token once and sends
    the request again."""

    def __init__(self, token: Callable[[], Awaitable[str]], refresh: Callable[[], Awaitable[str]]) -> None:
        self._token, self._refresh = token, refresh

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {await self._token()}"
        response = yield request
        if response.status_code == 401:
            request.headers["Authorization"] = f"Bearer {await self._refresh()}"
            yield request
