"""Seeing what CodeMem does: Prometheus metrics, JSON logs carrying thread and run ids, and tracing.

Metrics live in this process's default registry and are served on `/metrics` by `codemem serve` and
`codemem worker`. Logs go through structlog: `bind(thread_id=…, run_id=…)` adds ids to every line logged
inside it, standard `logging` calls included. Tracing is on when configured: LangSmith (LangChain reads
`LANGSMITH_TRACING`/`LANGSMITH_API_KEY` itself) and OpenTelemetry (`OTEL_EXPORTER_OTLP_ENDPOINT`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import structlog
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from bot.extras import missing_message
from integrations.context import ToolContext
from integrations.errors import ToolError
from integrations.registry import Registry

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

JOBS = Counter("codemem_jobs_total", "Jobs finished, by kind and outcome (done, failed, duplicate, interrupted).",
               ["kind", "outcome"])
JOB_WAIT = Histogram("codemem_job_wait_seconds", "From submit to start: time a job waited in its queue.",
                     ["kind"], buckets=_LATENCY_BUCKETS)
JOB_DURATION = Histogram("codemem_job_duration_seconds", "How long jobs ran.", ["kind"], buckets=_LATENCY_BUCKETS)
QUEUE_DEPTH = Gauge("codemem_queue_depth", "Jobs waiting (todo) per queue, as last seen by this process.", ["queue"])
TOOL_CALLS = Counter("codemem_tool_calls_total", "Workspace tool calls, by tool and outcome.", ["tool", "outcome"])
TOOL_LATENCY = Histogram("codemem_tool_call_seconds", "Workspace tool call latency.", ["tool"],
                         buckets=_LATENCY_BUCKETS)
MCP_CALLS = Counter("codemem_mcp_calls_total", "Calls of MCP servers' tools, by server, tool and outcome "
                   "(ok, error, input_required, dry_run).",
                   ["server", "tool", "outcome"])
ERRORS = Counter("codemem_errors_total", "Errors, by where they happened.", ["where"])
TOKENS = Counter("codemem_model_tokens_total", "Model tokens used, by direction (input_tokens, output_tokens).",
                 ["direction"])

tracer = trace.get_tracer("codemem")


def metrics_payload() -> tuple[bytes, str]:
    """The Prometheus exposition of this process's metrics and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def configure_logging(level: int, *, json: bool | None = None) -> None:
    """Route standard logging, structlog and Python warnings through one renderer on stderr: JSON lines, or
    human-readable lines; `json=None` picks JSON unless stderr is a terminal.

    Ids bound with `bind` appear in every line; the per-request chatter of HTTP and search libraries and
    Alembic's migration notes are kept out.
    """
    on_terminal = sys.stderr.isatty()
    shared = [structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
              structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True)]
    renderer: Any = (structlog.processors.JSONRenderer() if (not on_terminal if json is None else json)
                     else structlog.dev.ConsoleRenderer(colors=on_terminal))
    structlog.configure(processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                        logger_factory=structlog.stdlib.LoggerFactory(), cache_logger_on_first_use=True)
    handler = logging.StreamHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer]))
    handler.addFilter(_not_misleading)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)
    for chatty in ("httpx", "bm25s", "procrastinate", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _not_misleading(record: logging.LogRecord) -> bool:
    """False for log lines that are wrong about CodeMem: bolt reads SLACK_BOT_TOKEN from the environment
    itself and then warns that it is unused, while the client it is given carries that same token."""
    return not (record.name.startswith("slack_bolt") and "`token` will be unused" in record.getMessage())


@contextlib.contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Add `ids` (thread_id, run_id, job_id…) to every log line written inside this block, in this task."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield


def configure_tracing() -> str:
    """Turn on the tracing the environment asks for; a line saying which (for `codemem doctor` and the log).

    OpenTelemetry needs the `otlp` extra when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    """
    done = []
    if os.environ.get("LANGSMITH_TRACING", "").lower() == "true" and os.environ.get("LANGSMITH_API_KEY"):
        done.append("LangSmith (agent runs)")
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            return "tracing: " + missing_message("otlp", "OTEL_EXPORTER_OTLP_ENDPOINT")
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME",
                                                                                            "codemem")}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        done.append(f"OpenTelemetry to {endpoint} (jobs, tool calls)")
    return "tracing: " + (", ".join(done) if done else "off (set LANGSMITH_TRACING or OTEL_EXPORTER_OTLP_ENDPOINT)")


class MeteredRegistry:
    """A tool registry whose calls are counted, timed and traced; everything else is the wrapped registry's."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    async def call(self, name: str, args: dict[str, Any], ctx: ToolContext) -> Any:
        """`Registry.call`, measured (MCP servers' tools also by server and tool)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            spec = self._registry.get(name)
            provider, previewed = spec.provider, ctx.dry_run and spec.effect != "read"
        except ToolError:
            provider, previewed = "", False
        with tracer.start_as_current_span(f"tool {name}", attributes={"codemem.tool": name}):
            try:
                result = await self._registry.call(name, args, ctx)
                outcome = "ok"
                return result
            except ToolError as error:
                outcome = "input_required" if error.code == "input_required" else "error"
                raise
            finally:
                TOOL_CALLS.labels(name, outcome).inc()
                TOOL_LATENCY.labels(name).observe(time.perf_counter() - started)
                server, _, tool = name.partition("__")
                if provider == f"mcp:{server}":   # a dry run's write never reaches the server
                    MCP_CALLS.labels(server, tool, "dry_run" if previewed and outcome == "ok" else outcome).inc()
