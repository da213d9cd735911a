"""A local, stateful Microsoft Graph v1.0 subset with a deterministic demo workspace."""

from integrations.emulator.app import create_app
from integrations.emulator.seed import DEMO_OWN_DOMAIN, DEMO_TOKEN, DEMO_USER_EMAIL, build_demo_workspace
from integrations.emulator.server import EmulatorServer, serve_forever
from integrations.emulator.state import EmulatorState

__all__ = [
    "DEMO_OWN_DOMAIN",
    "DEMO_TOKEN",
    "DEMO_USER_EMAIL",
    "EmulatorServer",
    "EmulatorState",
    "build_demo_workspace",
    "create_app",
    "serve_forever",
]
