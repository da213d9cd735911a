"""Settings, read from the environment and from a `.env` file in the working directory."""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

POSTGRES_URL = "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB"

from integrations.google.gmail_mcp import GMAIL_MCP_URL


class Settings(BaseSettings):
    """Every setting CodeMem reads. The README's configuration table lists the same names."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    model: str | None = Field(None, alias="CODEMEM_MODEL")
    data_dir: Path = Field(Path(".codemem"), alias="CODEMEM_DATA_DIR")
    database_url: str | None = Field(None, alias="CODEMEM_DATABASE_URL")
    emulator_url: str | None = Field(None, alias="CODEMEM_EMULATOR_URL")
    host: str = Field("0.0.0.0", alias="CODEMEM_HOST")
    port: int = Field(3000, alias="CODEMEM_PORT")
    exec_timeout: float = Field(120.0, alias="CODEMEM_EXEC_TIMEOUT")
    sandbox: Literal["subprocess", "pool", "inprocess", "e2b"] = Field("pool", alias="CODEMEM_SANDBOX")
    sandbox_memory_mb: int = Field(1024, ge=16, alias="CODEMEM_SANDBOX_MEMORY_MB")
    sandbox_processes: int = Field(64, ge=1, alias="CODEMEM_SANDBOX_PROCESSES")
    sandbox_cpus: float = Field(1.0, gt=0, alias="CODEMEM_SANDBOX_CPUS")
    jobs: Literal["inprocess", "procrastinate"] = Field("inprocess", alias="CODEMEM_JOBS")
    worker_concurrency: int = Field(10, ge=1, alias="CODEMEM_WORKER_CONCURRENCY")
    worker_heartbeat: float = Field(5.0, gt=0, alias="CODEMEM_WORKER_HEARTBEAT")
    worker_stalled_after: float = Field(30.0, gt=0, alias="CODEMEM_WORKER_STALLED_AFTER")
    worker_poll: float = Field(0.5, gt=0, alias="CODEMEM_WORKER_POLL")
    schedule_poll: float = Field(15.0, gt=0, alias="CODEMEM_SCHEDULE_POLL")
    log_format: Literal["json", "text"] | None = Field(None, alias="CODEMEM_LOG_FORMAT")
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    public_url: str = Field("http://localhost:3000", alias="CODEMEM_PUBLIC_URL")
    microsoft_client_id: str | None = Field(None, alias="MICROSOFT_CLIENT_ID")
    microsoft_client_secret: str | None = Field(None, alias="MICROSOFT_CLIENT_SECRET")
    microsoft_authority: str = Field("https://login.microsoftonline.com/common", alias="MICROSOFT_AUTHORITY")
    google_client_id: str | None = Field(None, alias="GOOGLE_CLIENT_ID")
    google_client_secret: str | None = Field(None, alias="GOOGLE_CLIENT_SECRET")
    google_auth_uri: str = Field("https://accounts.google.com/o/oauth2/v2/auth", alias="GOOGLE_AUTH_URI")
    google_token_uri: str = Field("https://oauth2.googleapis.com/token", alias="GOOGLE_TOKEN_URI")
    graph_url: str = Field("https://graph.microsoft.com/v1.0", alias="CODEMEM_GRAPH_URL")
    google_api_url: str | None = Field(None, alias="CODEMEM_GOOGLE_API_URL")
    google_transport: Literal["rest", "mcp"] = Field("rest", alias="CODEMEM_GOOGLE_TRANSPORT")
    gmail_mcp_url: str | None = Field(None, alias="CODEMEM_GMAIL_MCP_URL")
    ca_certs: Path | None = Field(None, alias="CODEMEM_CA_CERTS")
    mcp_servers: str | None = Field(None, alias="CODEMEM_MCP_SERVERS")
    mcp_timeout: float = Field(30.0, gt=0, alias="CODEMEM_MCP_TIMEOUT")

    @field_validator("database_url")
    @classmethod
    def _a_database_sqlalchemy_can_open(cls, url: str | None) -> str | None:
        if not url:
            return None
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError(f"it is not a database URL: write {POSTGRES_URL} or sqlite:///PATH") from None
        try:
            dialect = parsed.get_dialect()
        except NoSuchModuleError:
            raise ValueError(f"it names the database kind {parsed.drivername!r}, which SQLAlchemy does not know: "
                             f"write {POSTGRES_URL} (PostgreSQL) or sqlite:///PATH") from None
        try:
            dialect.import_dbapi()
        except ImportError:
            if parsed.get_backend_name() != "postgresql":
                raise ValueError(f"it needs the Python driver of {parsed.drivername!r}, which is not installed") from None
            raise ValueError(f"it needs a PostgreSQL driver that is not installed: write {POSTGRES_URL} and "
                             'pip install "codemem[postgres]"') from None
        return url

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'codemem.db'}"

    @property
    def shown_database_url(self) -> str:
        """The database URL with its password hidden: for logs, the banner and messages."""
        return make_url(self.resolved_database_url).render_as_string(hide_password=True)

    def database_unreachable(self, error: Exception) -> str:
        """One line saying that the database cannot be reached, why, and what to check."""
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()
        return (f"CODEMEM_DATABASE_URL={self.shown_database_url}: cannot connect "
                f"({reason[0] if reason else type(error).__name__}); check that the database server is running "
                "and reachable from here, and the URL's host, port, user and password.")

    @property
    def uses_postgres(self) -> bool:
        """True when the database is PostgreSQL."""
        return make_url(self.resolved_database_url).get_backend_name() == "postgresql"

    @property
    def postgres_dsn(self) -> str:
        """The database URL as libpq takes it (`postgresql://…`, without SQLAlchemy's driver name)."""
        return make_url(self.resolved_database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def jobs_problem(self) -> str | None:
        """Why the job engine cannot run with these settings, and what to set; None when it can."""
        if self.jobs == "procrastinate" and not self.uses_postgres:
            return ("CODEMEM_JOBS=procrastinate keeps jobs in PostgreSQL: set CODEMEM_DATABASE_URL="
                    "postgresql+psycopg://USER:PASSWORD@HOST:5432/DB (and pip install 'codemem[postgres]'), "
                    "or use CODEMEM_JOBS=inprocess.")
        return None

    @cached_property
    def checkpoint_path(self) -> Path:
        """Where LangGraph keeps its checkpoints (one SQLite file)."""
        return self.data_dir / "checkpoints.db"

    @property
    def uses_accounts(self) -> bool:
        """True when users connect their own accounts (an OAuth client is configured); else the demo workspace."""
        return bool(self.microsoft_client_id or self.google_client_id)

    def gmail_mcp_endpoint(self, emulator_url: str | None = None) -> str | None:
        """Where Gmail goes with CODEMEM_GOOGLE_TRANSPORT=mcp (None with rest): CODEMEM_GMAIL_MCP_URL, else the
        demo workspace's Gmail MCP server at `emulator_url`, else Google's."""
        if self.google_transport != "mcp":
            return None
        return self.gmail_mcp_url or (f"{emulator_url.rstrip('/')}/mcp/gmail" if emulator_url else GMAIL_MCP_URL)

    def redirect_uri(self, provider: str) -> str:
        """Where the provider sends the browser back after sign-in."""
        return f"{self.public_url.rstrip('/')}/oauth/{provider}/callback"

    def missing_for_slack(self, oauth_install: bool = False) -> list[str]:
        """The Slack settings still missing to serve Slack, in the order a newcomer should set them.
        `oauth_install`: SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set (workspaces install the app)."""
        missing = [] if self.slack_bot_token or oauth_install else [
            "SLACK_BOT_TOKEN (one workspace) or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (installs by OAuth)"]
        if not self.slack_app_token and not self.slack_signing_secret:
            missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        return missing


def settings_problem(error: ValidationError) -> str:
    """The settings that failed validation, one line each: the variable, its value, what is wrong, the fix."""
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"]) or "a setting"
        expected = (problem.get("ctx") or {}).get("expected")
        what = f"it should be one of {expected}" if expected else problem["msg"].removeprefix("Value error, ")
        lines.append(f"{name}={_shown(name, problem.get('input'))} is not valid: {what[:1].lower() + what[1:]} "
                     "(set it in the environment or .env, or unset it for the default; README: Configuration).")
    return "\n".join(lines)


def _shown(name: str, value: object) -> str:
    """A setting's value as a message may show it: secrets hidden, a URL's password too."""
    if any(word in name for word in ("SECRET", "TOKEN", "PASSWORD", "KEY")):
        return "(hidden)"
    return repr(re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", value) if isinstance(value, str) else value)
