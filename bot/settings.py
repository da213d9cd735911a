"""Settings, read from the environment and from a `.env` file in the working directory."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'codemem.db'}"

    @cached_property
    def checkpoint_path(self) -> Path:
        """Where LangGraph keeps its checkpoints (one SQLite file)."""
        return self.data_dir / "checkpoints.db"

    def missing_for_slack(self) -> list[str]:
        """The Slack settings still missing to serve Slack, in the order a newcomer should set them."""
        missing = [] if self.slack_bot_token else ["SLACK_BOT_TOKEN"]
        if not self.slack_app_token and not self.slack_signing_secret:
            missing.append("SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)")
        return missing
