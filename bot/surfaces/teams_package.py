"""`codemem teams package`: the Teams app package (manifest.json, color.png, outline.png, zipped) to upload in
Teams (Apps → Manage your apps → Upload an app) or in the Teams admin center; and the privacy and terms pages
its manifest links to, which `codemem serve` serves when TEAMS_PRIVACY_URL and TEAMS_TERMS_URL are not set."""

from __future__ import annotations

import html
import importlib.metadata
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from bot.surfaces.teams_settings import TeamsSettings

MANIFEST_VERSION = "1.19"
MANIFEST_SCHEMA = f"https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT = (0x4F, 0x46, 0xE5)   # the color icon's background, and the manifest's accentColor
SCOPES = ["personal", "team", "groupChat"]
COMMANDS = [   # the command menu Teams shows; the text is parsed like `/skill …` in Slack
    ("skill list", "List your saved skills, each with a Run button"),
    ("skill run", "Run a saved skill: skill run NAME key=value …"),
    ("skill help", "How to use skills"),
    ("connect microsoft", "Connect your Microsoft account (Outlook, OneDrive)"),
    ("connect google", "Connect your Google account (Gmail, Sheets)"),
    ("help", "What CodeMem can do"),
]


PRIVACY_PATH, TERMS_PATH = "/privacy", "/terms"


class TeamsPackageError(ValueError):
    """A setting the package needs is missing or wrong; the message says which and how to fix it."""


def manifest(settings: TeamsSettings) -> dict[str, Any]:
    """The Teams app manifest for the bot registered as TEAMS_APP_ID, served at TEAMS_PUBLIC_URL."""
    missing = [name for name, value in (("TEAMS_APP_ID", settings.app_id), ("TEAMS_PUBLIC_URL", settings.public_url))
               if not value]
    if missing:
        raise TeamsPackageError("The Teams app package needs " + " and ".join(missing) + ": the bot's Microsoft "
                                "App ID (Azure Bot registration) and the public https URL its messaging endpoint "
                                "is served under (see README.md, 'Teams setup').")
    public_url = settings.public_url.rstrip("/")
    if not public_url.startswith("https://"):
        raise TeamsPackageError(f"TEAMS_PUBLIC_URL must be an https URL (Teams calls the bot over TLS), "
                                f"got {public_url!r}.")
    domain = public_url.removeprefix("https://").split("/", 1)[0]
    for setting, url in (("TEAMS_PRIVACY_URL", settings.privacy_url), ("TEAMS_TERMS_URL", settings.terms_url)):
        if url and not url.startswith("https://"):
            raise TeamsPackageError(f"{setting} must be an https URL (Teams shows it to users), got {url!r}; "
                                    f"or leave it unset to link the page CodeMem serves at {public_url}.")
    name = settings.app_name
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": MANIFEST_VERSION,
        "version": importlib.metadata.version("codemem"),
        "id": settings.manifest_id or settings.app_id,
        "developer": {"name": settings.developer_name, "websiteUrl": public_url,
                      "privacyUrl": settings.privacy_url or f"{public_url}{PRIVACY_PATH}",
                      "termsOfUseUrl": settings.terms_url or f"{public_url}{TERMS_PATH}"},
        "name": {"short": name[:30], "full": f"{name}: requests into code, code into skills"[:100]},
        "description": {
            "short": "Ask for work in a chat; rerun what worked as a skill."[:80],
            "full": ("Ask CodeMem for work in a chat or a channel thread. It plans, asks what is ambiguous, writes "
                     "and runs Python against your Outlook, OneDrive, Gmail and Google Sheets, and shows the result. A result that "
                     "works becomes a skill with one click: versioned code with typed parameters that reruns "
                     "from a command or a button, without the model."),
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [{
            "botId": settings.app_id,
            "scopes": SCOPES,
            "supportsFiles": False,
            "isNotificationOnly": False,
            "commandLists": [{"scopes": SCOPES, "commands": [{"title": t, "description": d} for t, d in COMMANDS]}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [domain],
    }


def write_package(settings: TeamsSettings, out: Path | None = None) -> Path:
    """Write the zipped app package (default `codemem-teams.zip` in the current directory); return its path."""
    body = manifest(settings)   # first: a missing setting must not leave an empty file behind
    out = out or Path("codemem-teams.zip")
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(body, indent=2, ensure_ascii=False))
        archive.writestr("color.png", color_icon())
        archive.writestr("outline.png", outline_icon())
    return out


def policy_routes(settings: TeamsSettings) -> list[Route]:
    """The privacy and terms pages the manifest links to, for those whose URL setting is unset."""
    operator = html.escape(settings.developer_name)
    pages = {
        PRIVACY_PATH: (settings.privacy_url, "Privacy", [
            f"This {html.escape(settings.app_name)} bot is run by {operator}, on its own servers.",
            "It keeps, in its own database: the messages of the conversations you have with it, the skills you "
            "save (their code, versions and runs) and, when you connect an account, that account's tokens, "
            "encrypted.",
            "What you ask, and what its code reads for you (mail, files, sheets), is sent to the language model "
            "its operator configured, to do the work you asked for. Nothing else leaves it.",
            "Connected accounts can be disconnected at any time with the command disconnect; deleting a skill "
            "deletes its versions and runs.",
            f"Questions: ask {operator}."]),
        TERMS_PATH: (settings.terms_url, "Terms of use", [
            f"This {html.escape(settings.app_name)} bot is provided by {operator} as it is, for the work of its "
            "users.",
            "It acts in your Microsoft 365 and Google accounts only as you ask: writes (uploads, sending mail) "
            "wait for your approval. You are responsible for what you ask it to do.",
            f"{operator} may change or stop the service."]),
    }

    def page(title: str, paragraphs: list[str]) -> Any:
        body = "".join(f"<p>{text}</p>" for text in paragraphs)
        document = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{title}</title>"
                    f"<h1>{title}</h1>{body}</html>")

        async def endpoint(request: Request) -> Response:
            return HTMLResponse(document)
        return endpoint

    return [Route(path, page(title, paragraphs)) for path, (url, title, paragraphs) in pages.items() if not url]


def color_icon(size: int = 192) -> bytes:
    """The full-color icon: a white "C" ring on the accent color, 192×192."""
    return _png(size, lambda x, y: (255, 255, 255, 255) if _ring(x, y, size) else (*ACCENT, 255))


def outline_icon(size: int = 32) -> bytes:
    """The outline icon Teams requires: white on transparent, 32×32."""
    return _png(size, lambda x, y: (255, 255, 255, 255) if _ring(x, y, size) else (0, 0, 0, 0))


def _ring(x: int, y: int, size: int) -> bool:
    """A "C": a ring open on the right."""
    cx = cy = (size - 1) / 2
    r = ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5
    return size * 0.28 <= r <= size * 0.40 and not (x > cx and abs(y - cy) < size * 0.12)


def _png(size: int, pixel: Any) -> bytes:
    """An RGBA PNG of `size`×`size` whose pixels are `pixel(x, y)`."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(size)) for y in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, read from its header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])

