"""The Ask journey: a message in a thread → progress → a question → the answer → the result."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langgraph.types import Command

from bot.agent.model import HOW_TO_CONFIGURE, model_failure
from bot.core.progress import ProgressMessage
from bot.core.surface import Surface, Surfaces
from bot.core.views import Answer, Notice, Progress, Question, SkillOffer, ThreadRef
from bot.observability import ERRORS, TOKENS
from bot.runtime.jobs import Interruption, Jobs
from skills_db.models import Owner
from skills_db.store import SkillStore

log = logging.getLogger(__name__)


TURN_JOB = "agent_turn"
NOT_YOUR_QUESTION = "Only the person who asked can answer this question."
ALREADY_ANSWERED = "This question was already answered: the first click counts."


class Conversations:
    """Drives one agent graph per thread; every surface calls these same methods. The work itself runs
    as `agent_turn` jobs, which post through the process's surface for the thread's platform. A turn cut
    short by a crash resumes from the graph's last checkpoint when its job is delivered again."""

    def __init__(self, graph: Any | None, store: SkillStore, jobs: Jobs, surfaces: Surfaces) -> None:
        self.graph = graph
        self.store = store
        self.jobs = jobs
        self.surfaces = surfaces
        jobs.handle(TURN_JOB, self._turn)
        jobs.on_interrupted(TURN_JOB, self._resume_interrupted)

    def is_known(self, thread: ThreadRef) -> bool:
        """True when the bot takes part in `thread` (so plain replies there are meant for it)."""
        return self.store.get_conversation(thread.thread_id) is not None

    async def on_message(self, surface: Surface, thread: ThreadRef, user: Owner, text: str) -> None:
        """A user wrote in a thread: start a task, continue one, or answer the pending question."""
        if self.graph is None:
            await surface.post(thread, Notice(HOW_TO_CONFIGURE, error=True))
            return
        conversation = self.store.get_conversation(thread.thread_id)
        if conversation is not None and conversation.requester_user != user.user:
            await surface.post(thread, Notice(
                "This conversation belongs to the person who started it: start your own thread by "
                "mentioning me.", error=True))
            return
        if conversation is None:
            self.store.upsert_conversation(platform=thread.platform, team=thread.team, channel=thread.channel,
                                           thread_ts=thread.thread, requester_user=user.user)
        await self.jobs.submit(TURN_JOB, {"thread": asdict(thread), "user": asdict(user), "text": text},
                               key=thread.thread_id)

    async def pending_question(self, thread: ThreadRef) -> Question | None:
        """The question `thread` waits on (to ask it again when its user comes back), or None."""
        if self.graph is None or not self.is_known(thread):
            return None
        return _question(await self.graph.aget_state({"configurable": {"thread_id": thread.thread_id}}))

    async def stop(self, surface: Surface, thread: ThreadRef, user: Owner) -> None:
        """Stop the task running in `thread` (only its requester may): the sandbox is interrupted, the
        conversation is kept, and a reply continues it."""
        conversation = self.store.get_conversation(thread.thread_id)
        if conversation is None or conversation.requester_user != user.user:
            await surface.post(thread, Notice("Only the person who asked can stop this task.", error=True))
        elif not await self.jobs.cancel(thread.thread_id):
            await surface.post(thread, Notice("Nothing is running in this thread."))

    async def on_choice(self, surface: Surface, thread: ThreadRef, user: Owner, choice: str,
                        *, once: str | None = None) -> Notice | None:
        """A choice button was clicked: the same as replying with the choice's text, for the person who asked
        and only for the first click on the question (`once`: the question's identity on its platform).
        Returns what to tell the clicker privately when the click does nothing, else None."""
        conversation = await asyncio.to_thread(self.store.get_conversation, thread.thread_id)
        if conversation is None or conversation.requester_user != user.user:
            return Notice(NOT_YOUR_QUESTION, error=True)
        if once and not await asyncio.to_thread(self.store.mark_event_processed, once):
            return Notice(ALREADY_ANSWERED)
        await self.on_message(surface, thread, user, choice)
        return None

    async def _turn(self, payload: dict[str, Any]) -> None:
        thread = ThreadRef(**payload["thread"])
        await self._advance(self.surfaces.get(thread.platform), thread, Owner(**payload["user"]), payload["text"])

    async def _resume_interrupted(self, payload: dict[str, Any], interruption: Interruption) -> bool:
        """The worker running this turn died. Nothing of it saved (no checkpoint since it began): False, so
        the turn runs normally (a reply then answers the pending question). It got to its question, or to
        its end: the question, or the answer, is posted again (the crash may have come before the post).
        Mid-run: tool calls it cut short are answered as interrupted, the user is told, and the graph goes
        on from its last checkpoint."""
        thread = ThreadRef(**payload["thread"])
        config = {"configurable": {"thread_id": thread.thread_id}}
        snapshot = await self.graph.aget_state(config)
        saved = datetime.fromisoformat(snapshot.created_at) if snapshot.created_at else None
        if saved is None or saved < interruption.started_at:
            return False
        surface = self.surfaces.get(thread.platform)
        if snapshot.interrupts:
            await surface.post(thread, _question(snapshot))
            return True
        if not snapshot.next:
            await surface.post(thread, _answer(snapshot.values))
            return True
        log.warning("resuming %s from its checkpoint after %s stopped", thread.thread_id, interruption.worker)
        await surface.post(thread, Notice("I was interrupted (the worker running this task stopped). "
                                          "Picking up from my last saved step…"))
        await self._close_cut_calls(config, "Interrupted: the worker running this stopped before it finished; "
                                            "its effects, if any, are unknown. Check before doing it again.")
        await self._drive(surface, thread, None, config)
        return True

    async def _advance(self, surface: Surface, thread: ThreadRef, user: Owner, text: str) -> None:
        config = {"configurable": {"thread_id": thread.thread_id}}
        snapshot = await self.graph.aget_state(config)
        if snapshot.interrupts:
            graph_input: Any = Command(resume=text)
        else:
            graph_input = {"messages": [HumanMessage(text)], "requester": asdict(user),
                           "result": None, "proposal": None}
            self.store.set_progress_message(thread.thread_id, None)
        await self._drive(surface, thread, graph_input, config)

    async def _drive(self, surface: Surface, thread: ThreadRef, graph_input: Any, config: dict) -> None:
        conversation = self.store.get_conversation(thread.thread_id)
        values = (await self.graph.aget_state(config)).values
        # A new request starts a new progress message and plan; a task that goes on keeps its checklist.
        todos = [] if isinstance(graph_input, dict) else values.get("todos")
        progress = ProgressMessage(surface, thread, conversation.progress_message_id, todos=todos)
        before = dict(values.get("usage") or {})
        try:
            async for event in self.graph.astream(graph_input, config, stream_mode="custom"):
                view = progress.view
                if event.get("type") == "todos":
                    await progress.show(Progress(status=view.status, todos=event["todos"]))
                elif event.get("type") == "status":
                    await progress.show(Progress(status=event["text"], todos=view.todos))
                if progress.message_id != conversation.progress_message_id:
                    self.store.set_progress_message(thread.thread_id, progress.message_id)
                    conversation.progress_message_id = progress.message_id
        except asyncio.CancelledError:
            await self._close_cut_calls(config, "Stopped by the user before this finished.")
            await progress.show(Progress(status="Stopped", todos=progress.view.todos, finished=True), force=True)
            await surface.post(thread, Notice("Stopped. Everything so far is kept: reply here to continue."))
            return
        except Exception as error:   # a model or tool failure is told in the thread, never crashes the worker
            ERRORS.labels("agent").inc()
            explained = model_failure(error)
            if explained is None:
                log.exception("the agent failed in %s", thread.thread_id)
            else:   # not a bug: one line in the log, the explanation in the thread
                log.info("the agent stopped in %s: %s: %s", thread.thread_id, type(error).__name__, error)
            await progress.show(Progress(status="Stopped by an error", todos=progress.view.todos), force=True)
            await surface.post(thread, Notice(explained or f"I could not finish: {error}. Reply here to try again.",
                                              error=True))
            return
        snapshot = await self.graph.aget_state(config)
        for direction, used in (snapshot.values.get("usage") or {}).items():
            TOKENS.labels(direction).inc(max(used - before.get(direction, 0), 0))
        question = _question(snapshot)
        if question is not None:
            await progress.show(Progress(status="Waiting for your answer", todos=progress.view.todos), force=True)
            await surface.post(thread, question)
            return
        await progress.show(Progress(status="Done", todos=progress.view.todos, finished=True), force=True)
        await surface.post(thread, _answer(snapshot.values))

    async def _close_cut_calls(self, config: dict, why: str) -> None:
        """Answer the tool calls a Stop or a crash cut short, so the history stays valid for the next model call."""
        snapshot = await self.graph.aget_state(config)
        messages = snapshot.values.get("messages", [])
        last_ai = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
        answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
        pending = [call for call in (last_ai.tool_calls if last_ai else []) if call["id"] not in answered]
        if pending:
            await self.graph.aupdate_state(config, {"messages": [
                ToolMessage(why, tool_call_id=call["id"], name=call["name"])
                for call in pending]}, as_node="tools")


def _question(snapshot: Any) -> Question | None:
    """The question a graph stopped at (its first interrupt), or None when it did not stop at one."""
    if not snapshot.interrupts:
        return None
    asked = snapshot.interrupts[0].value
    return Question(asked["question"], asked.get("choices") or [], asked.get("url"))


def _answer(state: dict[str, Any]) -> Answer:
    result = state.get("result") or {}
    last_ai = next((m for m in reversed(state.get("messages", [])) if isinstance(m, AIMessage)), None)
    text = result.get("text") or (last_ai.text if last_ai else "") or "Done."
    proposal = state.get("proposal")
    offer = SkillOffer(proposal["skill_id"], proposal["name"], proposal["version"], proposal["parameters"],
                       proposal.get("diff", "")) if proposal else None
    return Answer(text=text, data=result.get("data"), offer=offer, usage=dict(state.get("usage") or {}))
