"""The Microsoft Teams settings, read from the environment and from a `.env` file like `bot.settings.Settings`."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


# TEAMS_CLOUD values: the Teams SDK's cloud environments (microsoft_teams.api.auth.cloud_environment).
CLOUDS = ("Public", "USGov", "USGovDoD", "China")


class TeamsSettings(BaseSettings):
    """Everything the Teams surface and `codemem teams package` read. The README's table lists the same names."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    app_id: str | None = Field(None, alias="TEAMS_APP_ID")
    app_password: str | None = Field(None, alias="TEAMS_APP_PASSWORD")
    tenant_id: str | None = Field(None, alias="TEAMS_TENANT_ID")
    endpoint: str = Field("/api/messages", alias="TEAMS_ENDPOINT")
    allow_unauthenticated: bool = Field(False, alias="TEAMS_ALLOW_UNAUTHENTICATED")
    cloud: str = Field("Public", alias="TEAMS_CLOUD")
    openid_metadata_url: str | None = Field(None, alias="TEAMS_OPENID_METADATA_URL")
    service_url: str | None = Field(None, alias="TEAMS_SERVICE_URL")
    public_url: str | None = Field(None, alias="TEAMS_PUBLIC_URL")
    manifest_id: str | None = Field(None, alias="TEAMS_MANIFEST_ID")
    app_name: str = Field("CodeMem", alias="TEAMS_APP_NAME")
    developer_name: str = Field("CodeMem", alias="TEAMS_DEVELOPER_NAME")
    privacy_url: str | None = Field(None, alias="TEAMS_PRIVACY_URL")
    terms_url: str | None = Field(None, alias="TEAMS_TERMS_URL")

    @field_validator("cloud")
    @classmethod
    def _known_cloud(cls, value: str) -> str:
        by_name = {name.lower(): name for name in CLOUDS}
        if value.strip().lower() not in by_name:
            raise ValueError(f"TEAMS_CLOUD must be one of {', '.join(CLOUDS)} (Microsoft's public cloud, US "
                             f"Government GCC High, US Government DoD, China), not {value!r}")
        return by_name[value.strip().lower()]

    @property
    def enabled(self) -> bool:
        """True when `codemem serve` should serve Teams (an app id, or the unauthenticated test mode)."""
        return bool(self.app_id) or self.allow_unauthenticated

    def missing_for_teams(self) -> list[str]:
        """The settings still missing to serve Teams with authentication, in the order to set them."""
        return [name for name, value in (("TEAMS_APP_ID", self.app_id), ("TEAMS_APP_PASSWORD", self.app_password))
                if not value]
