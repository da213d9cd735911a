"""Settings, read from the environment and from a `.env` file in the working directory."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url


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
    log_format: Literal["json", "text"] = Field("json", alias="CODEMEM_LOG_FORMAT")
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
    ca_certs: Path | None = Field(None, alias="CODEMEM_CA_CERTS")

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'codemem.db'}"

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
