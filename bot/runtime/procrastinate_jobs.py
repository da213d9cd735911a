"""The distributed job engine: procrastinate on PostgreSQL, the database CodeMem already scales out on.

Why procrastinate: the queue is a PostgreSQL table, so a job is submitted in the same transaction as its
dedupe record, there is no broker to run, and it already has what we need — `lock` (jobs with one lock run
one at a time, in order: a thread's jobs), worker heartbeats (the jobs of a dead worker are found and
delivered again), abort (Stop) and LISTEN/NOTIFY wake-ups.

On top of it, three small tables of ours:
- `codemem_jobs`, a ledger keyed by the dedupe key: a second submission is dropped; a delivery of a job
  already done is a no-op; a delivery of a job left "running" means its worker died: the kind's
  `interrupted` hook gets it.
- `codemem_workers`, each worker's name, own queue and heartbeat.
- `codemem_affinity`, which worker last ran a key's job: with local sandboxes a thread's session lives in one
  worker process, so its next jobs go to that worker's queue while it lives; with E2B (`affinity=False`)
  every job goes to the shared queue.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import procrastinate
import psycopg
from procrastinate import JobContext
from procrastinate.jobs import Job
from procrastinate.schema import SchemaManager

from bot.observability import ERRORS, JOBS, QUEUE_DEPTH
from bot.runtime.jobs import Handler, Interruption, OnInterrupted, recovering, run_job, worker_name

log = logging.getLogger(__name__)

SHARED_QUEUE = "codemem"
TASK_NAME = "codemem.job"
_SCHEMA_LOCK = 0x636F64656D  # pg_advisory_xact_lock id: one process creates the tables at a time

LEDGER_SQL = """
CREATE TABLE IF NOT EXISTS codemem_jobs (
    dedupe text PRIMARY KEY,
    kind text NOT NULL,
    key text NOT NULL,
    job_id bigint,
    state text NOT NULL DEFAULT 'queued',
    worker text,
    deliveries integer NOT NULL DEFAULT 0,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS codemem_jobs_finished_at ON codemem_jobs (finished_at);
CREATE TABLE IF NOT EXISTS codemem_workers (
    name text PRIMARY KEY,
    queue text NOT NULL,
    heartbeat timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS codemem_affinity (
    key text PRIMARY KEY,
    worker text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class QueueStats:
    """Jobs waiting and running in one queue, and how long the oldest waiting one has waited."""

    queue: str
    waiting: int
    running: int
    oldest_wait_seconds: float


class ProcrastinateJobs:
    """Jobs in PostgreSQL. Every process can submit and cancel; `run_worker` makes this one run them too."""

    def __init__(self, dsn: str, *, name: str | None = None, affinity: bool = True, heartbeat: float = 5.0,
                 stalled_after: float = 30.0, poll: float = 0.5, keep_days: int = 7) -> None:
        self.dsn = dsn
        self.name = name or worker_name()
        self.queue = f"{SHARED_QUEUE}.{self.name}"
        self.affinity = affinity
        self.heartbeat = heartbeat
        self.stalled_after = stalled_after
        self.poll = poll
        self.keep_days = keep_days
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn, min_size=1, max_size=10))
        self.app.task(name=TASK_NAME, pass_context=True, queue=SHARED_QUEUE)(self._deliver)
        self._handlers: dict[str, Handler] = {}
        self._interrupted: dict[str, OnInterrupted] = {}
        self._running: dict[str, asyncio.Task] = {}
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------------------------------- set-up

    async def open(self) -> None:
        """Open the connection pool, creating procrastinate's tables and ours on first use."""
        async with await psycopg.AsyncConnection.connect(self.dsn) as connection:
            async with connection.transaction():
                await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                found = await (await connection.execute("SELECT to_regclass('procrastinate_jobs')")).fetchone()
                if found is None or found[0] is None:
                    await connection.execute(SchemaManager.get_schema())
                await connection.execute(LEDGER_SQL)
        await self.app.open_async()

    async def close(self) -> None:
        """Close the pool (a running worker must have stopped first)."""
        await self.app.close_async()

    def handle(self, kind: str, handler: Handler) -> None:
        self._handlers[kind] = handler

    def on_interrupted(self, kind: str, hook: OnInterrupted) -> None:
        self._interrupted[kind] = hook

    # ------------------------------------------------------------------------------------- submitting

    async def submit(self, kind: str, payload: dict[str, Any], *, key: str, dedupe: str | None = None) -> bool:
        dedupe = dedupe or f"job:{uuid.uuid4().hex}"
        queue = await self._queue_for(key)
        job = Job(queue=queue, lock=key, queueing_lock=None, task_name=TASK_NAME,
                  task_kwargs={"kind": kind, "key": key, "dedupe": dedupe, "payload": payload})
        async with self.app.connector.pool.connection() as connection, connection.transaction():
            inserted = await connection.execute(
                "INSERT INTO codemem_jobs (dedupe, kind, key) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (dedupe, kind, key))
            if inserted.rowcount == 0:
                JOBS.labels(kind, "duplicate").inc()
                return False
            deferred = await self.app.job_manager.defer_job_async(job, connection=connection)
            await connection.execute("UPDATE codemem_jobs SET job_id = %s WHERE dedupe = %s", (deferred.id, dedupe))
        return True

    async def _queue_for(self, key: str) -> str:
        """The queue of the live worker that holds `key`'s session, else the shared queue."""
        if not self.affinity:
            return SHARED_QUEUE
        row = await self._one(
            "SELECT w.queue FROM codemem_affinity a JOIN codemem_workers w ON w.name = a.worker "
            "WHERE a.key = %s AND w.heartbeat > now() - make_interval(secs => %s)", (key, self.stalled_after))
        return row[0] if row else SHARED_QUEUE

    async def cancel(self, key: str) -> bool:
        task = self._running.get(key)
        if task is not None and not task.done():
            task.cancel()
            return True
        row = await self._one("SELECT id FROM procrastinate_jobs WHERE lock = %s AND status = 'doing' LIMIT 1", (key,))
        if row is None:
            return False
        return await self.app.job_manager.cancel_job_by_id_async(row[0], abort=True)

    async def drain(self, poll: float = 0.1) -> None:
        while await self._one("SELECT 1 FROM codemem_jobs WHERE state IN ('queued', 'running') LIMIT 1"):
            await asyncio.sleep(poll)

    async def problems(self) -> list[str]:
        if await self.app.job_manager.check_connection_async():
            return []
        return ["job queue: procrastinate's tables are missing or unreachable in PostgreSQL"]

    async def stats(self) -> list[QueueStats]:
        """Per queue: jobs waiting and running, and the oldest wait (`codemem doctor`, `/metrics`)."""
        rows = await self._all(
            "SELECT j.queue_name, count(*) FILTER (WHERE j.status = 'todo'), count(*) FILTER (WHERE j.status = 'doing'), "
            "coalesce(extract(epoch FROM now() - min(l.submitted_at) FILTER (WHERE j.status = 'todo')), 0) "
            "FROM procrastinate_jobs j LEFT JOIN codemem_jobs l ON l.job_id = j.id "
            "WHERE j.status IN ('todo', 'doing') GROUP BY j.queue_name ORDER BY 1")
        return [QueueStats(queue, int(waiting), int(running), float(oldest)) for queue, waiting, running, oldest in rows]

    async def live_workers(self) -> list[str]:
        """The names of the workers whose heartbeat is recent."""
        rows = await self._all("SELECT name FROM codemem_workers WHERE heartbeat > now() - make_interval(secs => %s) "
                               "ORDER BY name", (self.stalled_after,))
        return [name for (name,) in rows]

    # ---------------------------------------------------------------------------------------- running

    async def run_worker(self, *, concurrency: int = 10) -> None:
        """Run jobs of the shared queue and of this worker's own queue until `stop` (or SIGINT/SIGTERM);
        meanwhile keep a heartbeat and deliver again the jobs of workers that died."""
        await self._execute("INSERT INTO codemem_workers (name, queue) VALUES (%s, %s) "
                            "ON CONFLICT (name) DO UPDATE SET heartbeat = now()", (self.name, self.queue))
        self._stopping.clear()
        upkeep = asyncio.create_task(self._upkeep(), name="codemem worker upkeep")
        worker = asyncio.create_task(self.app.run_worker_async(
            queues=[SHARED_QUEUE, self.queue], name=self.name, concurrency=concurrency,
            update_heartbeat_interval=self.heartbeat, stalled_worker_timeout=self.stalled_after,
            abort_job_polling_interval=min(self.heartbeat, 1.0), delete_jobs="successful",
            # New jobs wake workers at once (NOTIFY); the next job of a lock only becomes takeable when the
            # previous one ends, which notifies nobody: polling picks it up.
            fetch_job_polling_interval=self.poll,
            install_signal_handlers=False))
        stopping = asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not worker.done():
                worker.cancel()   # procrastinate stops gracefully: running jobs finish first
            await asyncio.gather(worker, return_exceptions=True)
            stopping.cancel()
            upkeep.cancel()
            await asyncio.gather(upkeep, return_exceptions=True)
            await self._execute("DELETE FROM codemem_workers WHERE name = %s", (self.name,))

    def stop(self) -> None:
        """Ask `run_worker` to finish its running jobs and return."""
        self._stopping.set()

    async def _deliver(self, context: JobContext, kind: str, key: str, dedupe: str, payload: dict[str, Any]) -> None:
        """One delivery of a job (procrastinate's task): claim it in the ledger, then run it once."""
        claim = await self._claim(dedupe)
        if claim is None:
            JOBS.labels(kind, "duplicate").inc()
            log.info("job %s (%s) was already done: this delivery is dropped", dedupe, kind)
            return
        if self.affinity:
            await self._execute("INSERT INTO codemem_affinity (key, worker) VALUES (%s, %s) ON CONFLICT (key) "
                                "DO UPDATE SET worker = excluded.worker, updated_at = now()", (key, self.name))
        handler = self._handlers[kind]
        hook = self._interrupted.get(kind)
        if claim.interrupted is not None and hook is not None:
            JOBS.labels(kind, "interrupted").inc()
            log.warning("job %s (%s) was interrupted on %s: recovering it", dedupe, kind, claim.interrupted.worker)
            handler = recovering(handler, hook, claim.interrupted)

        self._running[key] = asyncio.current_task()
        ok = False
        try:
            ok = await run_job(kind, key, handler, payload, waited=claim.waited)
        finally:
            self._running.pop(key, None)
            await asyncio.shield(self._execute(
                "UPDATE codemem_jobs SET state = %s, finished_at = now() WHERE dedupe = %s",
                ("done" if ok else "failed", dedupe)))

    async def _claim(self, dedupe: str) -> _Claim | None:
        """Mark the job running here; None when it is already finished (a redelivery of a done job)."""
        async with self.app.connector.pool.connection() as connection, connection.transaction():
            row = await (await connection.execute(
                "SELECT kind, key, state, worker, started_at, extract(epoch FROM now() - submitted_at) "
                "FROM codemem_jobs WHERE dedupe = %s FOR UPDATE", (dedupe,))).fetchone()
            if row is None:
                raise LookupError(f"job {dedupe} has no ledger row: submit jobs with ProcrastinateJobs.submit")
            kind, key, state, worker, started_at, waited = row
            if state in ("done", "failed"):
                return None
            await connection.execute(
                "UPDATE codemem_jobs SET state = 'running', worker = %s, started_at = now(), "
                "deliveries = deliveries + 1 WHERE dedupe = %s", (self.name, dedupe))
        interrupted = Interruption(kind, key, started_at, worker) if state == "running" else None
        return _Claim(float(waited), interrupted)

    async def _upkeep(self) -> None:
        """Every heartbeat: ours; workers gone silent are removed and their jobs delivered again; metrics."""
        while True:
            try:
                await self._upkeep_once()
            except Exception:   # a database hiccup must not stop the worker; the next beat tries again
                ERRORS.labels("worker_upkeep").inc()
                log.exception("worker upkeep failed")
            await asyncio.sleep(self.heartbeat)

    async def _upkeep_once(self) -> None:
        await self._execute("UPDATE codemem_workers SET heartbeat = now() WHERE name = %s", (self.name,))
        dead = await self._all(
            "DELETE FROM codemem_workers WHERE heartbeat < now() - make_interval(secs => %s) RETURNING name, queue",
            (self.stalled_after,))
        if dead:
            names = [name for name, _ in dead]
            moved = await self._all(
                "UPDATE procrastinate_jobs SET queue_name = %s WHERE status = 'todo' AND queue_name = ANY(%s) "
                "RETURNING id", (SHARED_QUEUE, [queue for _, queue in dead]))
            await self._execute("DELETE FROM codemem_affinity WHERE worker = ANY(%s)", (names,))
            log.warning("workers %s stopped; %d waiting jobs moved to the shared queue", ", ".join(names), len(moved))
        for job in await self.app.job_manager.get_stalled_jobs(seconds_since_heartbeat=self.stalled_after):
            await self.app.job_manager.retry_job(job, queue=SHARED_QUEUE)
            log.warning("job %s of a dead worker is delivered again", job.id)
        await self._execute("DELETE FROM codemem_jobs WHERE finished_at < now() - make_interval(days => %s)",
                            (self.keep_days,))
        for stat in await self.stats():
            QUEUE_DEPTH.labels(stat.queue).set(stat.waiting)

    # ---------------------------------------------------------------------------------------- helpers

    async def _execute(self, sql: str, params: tuple = ()) -> None:
        async with self.app.connector.pool.connection() as connection:
            await connection.execute(sql, params)

    async def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        async with self.app.connector.pool.connection() as connection:
            return await (await connection.execute(sql, params)).fetchone()

    async def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        async with self.app.connector.pool.connection() as connection:
            return list(await (await connection.execute(sql, params)).fetchall())


@dataclass(frozen=True)
class _Claim:
    waited: float
    interrupted: Interruption | None

