"""Answer Slack the moment a listener acks, and let the listener's work after its ack go on.

bolt's default async runner starts a listener and polls for its ack every 10 ms: each request waits at
least that long, and under a burst the polls crowd the event loop. With `process_before_response=True`
bolt awaits the listener instead, so every listener is wrapped by `AfterAck.listener`: it runs as a task,
the wrapper returns as soon as the listener has called `ack` (bolt then answers Slack) or has ended, and
the task goes on with the work after the ack. An event listener takes no `ack`: bolt acks the event when
the wrapper returns, at once, and the whole listener runs after that, as it did with the default runner.

The tasks are kept until they end (`drain` waits for them at shutdown); a failure after the ack is
logged, as bolt logs a listener's error.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

Listener = Callable[..., Awaitable[None]]


class AfterAck:
    """The listeners' work after their acks: background tasks of this process."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def listener(self, function: Listener) -> Listener:
        """`function` as a bolt listener that returns once it has acked; bolt injects the same arguments."""
        @functools.wraps(function)   # bolt reads the arguments to inject from the wrapped function
        async def until_acked(**kwargs: Any) -> None:
            if "ack" not in kwargs:   # an event: bolt acks it when this returns, and the listener runs after that
                self._keep(asyncio.create_task(function(**kwargs)))
                return
            ack, acked = kwargs["ack"], asyncio.get_running_loop().create_future()

            async def ack_and_answer(*args: Any, **values: Any) -> Any:
                response = await ack(*args, **values)
                if not acked.done():
                    acked.set_result(None)
                return response

            task = asyncio.create_task(function(**{**kwargs, "ack": ack_and_answer}))
            await asyncio.wait((acked, task), return_when=asyncio.FIRST_COMPLETED)
            if not acked.done():
                task.result()   # ended without acking: a failure goes to bolt, which answers with an error
                return
            self._keep(task)

        return until_acked

    async def drain(self) -> None:
        """Wait for the work after the acks answered so far (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _keep(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a Slack listener failed after its ack", exc_info=task.exception())
