"""The Connect journey: /connect → sign in in the browser → tokens stored encrypted → a confirmation DM."""

from __future__ import annotations

import ssl

import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.applications import Starlette

from bot.app import open_codemem
from bot.core.views import ConnectLink, Notice
from bot.settings import Settings
from integrations.emulator.server import EmulatorServer
from skills_db.models import Owner
from tests.agent.conftest import RecordingSurface

ALICE = Owner("slack", "T1", "U_ALICE")


@pytest.fixture
def emulator():
    with EmulatorServer() as server:
        yield server


async def test_connect_microsoft_end_to_end(tmp_path, emulator, monkeypatch) -> None:
    monkeypatch.setenv("CODEMEM_SECRET_KEYS", Fernet.generate_key().decode())
    settings = Settings(data_dir=tmp_path, public_url="http://codemem.test", microsoft_client_id="ms-client",
                        microsoft_client_secret="ms-secret", microsoft_authority=emulator.microsoft_authority,
                        graph_url=emulator.graph_url, ca_certs=emulator.ca_path)
    async with open_codemem(settings) as codemem:
        dms = RecordingSurface()
        codemem.surfaces.attach("slack", dms)
        unknown = await codemem.connections.connect(ALICE, "dropbox")
        assert isinstance(unknown, Notice) and "don't know the provider" in unknown.text
        google = await codemem.connections.connect(ALICE, "google")
        assert isinstance(google, Notice) and "not set up" in google.text

        link = await codemem.connections.connect(ALICE, "microsoft")
        assert isinstance(link, ConnectLink) and link.url.startswith(emulator.microsoft_authority)
        # The browser signs in at the provider, which sends it back to our callback with a code.
        tls = ssl.create_default_context(cafile=str(emulator.ca_path))
        sign_in = httpx.get(link.url, verify=tls, trust_env=False)
        callback = httpx.URL(sign_in.headers["location"])
        assert str(callback).startswith("http://codemem.test/oauth/microsoft/callback")
        app = Starlette(routes=codemem.connections.accounts.routes())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://codemem.test") as web:
            page = await web.get(callback.raw_path.decode())
            assert page.status_code == 200 and "is connected to CodeMem" in page.text
            replay = await web.get(callback.raw_path.decode())
            assert replay.status_code == 400, "a sign-in answer works once"
        confirmation = dms.shown(Notice)[-1]
        assert "Connected your Microsoft (Outlook, OneDrive) account alex@contoso.com" in confirmation.text

        # The user's tools now act with their own token, through the bridge.
        context = codemem.workspace.context_for(ALICE)
        assert context.graph is not None
        with codemem.connections.accounts.store.engine.connect() as db:
            stored = db.exec_driver_sql("select secret from workspace_connections").scalars().all()
        assert stored and not any("access_token" in secret for secret in stored), "tokens are encrypted at rest"

        bye = await codemem.connections.disconnect(ALICE, "microsoft")
        assert "Disconnected" in bye.text
        assert codemem.workspace.context_for(ALICE).graph is None
