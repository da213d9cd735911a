"""`codemem teams package`: a manifest Teams accepts, with the command list, and the two icons it requires."""

from __future__ import annotations

import json
import re
import zipfile

import pytest

from bot.surfaces.teams_package import TeamsPackageError, manifest, png_size, policy_routes, write_package
from bot.surfaces.teams_settings import TeamsSettings
from tests.teams.driver import APP_ID

GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_the_package_holds_the_manifest_and_icons(tmp_path) -> None:
    settings = TeamsSettings(TEAMS_APP_ID=APP_ID, TEAMS_PUBLIC_URL="https://bot.contoso.com/")
    path = write_package(settings, tmp_path / "out" / "codemem-teams.zip")
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(archive.read("manifest.json"))
        assert png_size(archive.read("color.png")) == (192, 192)
        assert png_size(archive.read("outline.png")) == (32, 32)

    assert GUID.match(manifest["id"]) and manifest["bots"][0]["botId"] == APP_ID
    assert manifest["validDomains"] == ["bot.contoso.com"]
    assert all(url.startswith("https://bot.contoso.com") for url in manifest["developer"].values() if "://" in url)
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["description"]["short"]) <= 80
    bot = manifest["bots"][0]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    commands = bot["commandLists"][0]["commands"]
    assert [c["title"] for c in commands][:2] == ["skill list", "skill run"] and len(commands) <= 10
    assert all(len(c["title"]) <= 32 and len(c["description"]) <= 128 for c in commands)


@pytest.mark.parametrize(("values", "message"), [
    ({}, "TEAMS_APP_ID and TEAMS_PUBLIC_URL"),
    ({"TEAMS_APP_ID": APP_ID}, "TEAMS_PUBLIC_URL"),
    ({"TEAMS_APP_ID": APP_ID, "TEAMS_PUBLIC_URL": "http://bot.contoso.com"}, "must be an https URL"),
])
def test_missing_settings_are_named(tmp_path, monkeypatch, values: dict, message: str) -> None:
    for name in ("TEAMS_APP_ID", "TEAMS_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TeamsPackageError, match=message):
        write_package(TeamsSettings(**values), tmp_path / "p.zip")
    assert not (tmp_path / "p.zip").exists()


def test_privacy_and_terms_link_the_pages_codemem_serves_or_the_configured_ones(tmp_path) -> None:
    settings = TeamsSettings(TEAMS_APP_ID=APP_ID, TEAMS_PUBLIC_URL="https://bot.contoso.com/")
    developer = manifest(settings)["developer"]
    assert (developer["privacyUrl"], developer["termsOfUseUrl"]) == ("https://bot.contoso.com/privacy",
                                                                     "https://bot.contoso.com/terms")
    assert [route.path for route in policy_routes(settings)] == ["/privacy", "/terms"]
    full = manifest(settings)["description"]["full"]
    assert "Outlook" in full and "Gmail" in full and "Google Sheets" in full

    own = TeamsSettings(TEAMS_APP_ID=APP_ID, TEAMS_PUBLIC_URL="https://bot.contoso.com",
                        TEAMS_PRIVACY_URL="https://contoso.com/legal/privacy")
    assert manifest(own)["developer"]["privacyUrl"] == "https://contoso.com/legal/privacy"
    assert [route.path for route in policy_routes(own)] == ["/terms"], "only the page nobody else serves"
    with pytest.raises(TeamsPackageError, match="TEAMS_TERMS_URL must be an https URL"):
        manifest(TeamsSettings(TEAMS_APP_ID=APP_ID, TEAMS_PUBLIC_URL="https://bot.contoso.com",
                               TEAMS_TERMS_URL="http://contoso.com/terms"))
