"""Fixtures: a live workspace emulator on loopback and a real msgraph-sdk client pointed at it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Iterator

import httpx
import pytest
from msgraph import GraphServiceClient

from integrations.blobs import BlobStore
from integrations.context import ToolContext
from integrations.emulator import DEMO_TOKEN, EmulatorServer, build_demo_workspace
from integrations.microsoft.client import make_graph_client
from integrations.registry import Registry, default_registry

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(build_demo_workspace(NOW)) as server:
        yield server


@pytest.fixture
def graph(emulator: EmulatorServer) -> GraphServiceClient:
    return make_graph_client(emulator.graph_url, DEMO_TOKEN)


@pytest.fixture
def blobs() -> BlobStore:
    return BlobStore()


@pytest.fixture
def ctx(graph: GraphServiceClient, blobs: BlobStore) -> ToolContext:
    return ToolContext(graph=graph, blobs=blobs)


@pytest.fixture
def registry() -> Registry:
    return default_registry()


class Inspector:
    """Reads the emulator's inspection API the way a test or demo would."""

    def __init__(self, server: EmulatorServer) -> None:
        self._client = httpx.Client(base_url=server.url, trust_env=False)

    def mailbox(self) -> dict[str, Any]:
        return self._get("/_emulator/mailbox")

    def drive(self) -> dict[str, Any]:
        return self._get("/_emulator/drive")

    def files(self) -> dict[str, dict[str, Any]]:
        return {f["path"]: f for f in self.drive()["files"]}

    def folders(self) -> set[str]:
        return {f["path"] for f in self.drive()["folders"]}

    def requests(self) -> list[dict[str, Any]]:
        return self._get("/_emulator/requests")["requests"]

    def reset(self) -> None:
        self._client.post("/_emulator/reset").raise_for_status()

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str) -> Any:
        response = self._client.get(path)
        response.raise_for_status()
        return response.json()


@pytest.fixture
def inspector(emulator: EmulatorServer) -> Iterator[Inspector]:
    inspector = Inspector(emulator)
    yield inspector
    inspector.close()


@pytest.fixture(params=["http", "https"])
def graph_ctx(request: pytest.FixtureRequest, emulator: EmulatorServer, blobs: BlobStore) -> ToolContext:
    """A tool context whose Graph client reaches the emulator over HTTP or over TLS (trusting its CA)."""
    if request.param == "http":
        return ToolContext(graph=make_graph_client(emulator.graph_url, DEMO_TOKEN), blobs=blobs)
    return ToolContext(graph=make_graph_client(emulator.https_url + "/v1.0", DEMO_TOKEN, ca_certs=emulator.ca_path), blobs=blobs)


def add_fault(server: EmulatorServer, **fault: Any) -> None:
    """Inject a fault through the emulator's inspection API (fields of integrations.emulator.faults.Fault)."""
    httpx.post(server.url + "/_emulator/faults", json=fault, trust_env=False).raise_for_status()
