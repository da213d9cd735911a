"""Per-user delegated OAuth for Microsoft (MSAL) and Google (google-auth-oauthlib), tokens encrypted at rest."""

from integrations.accounts.accounts import AccountError, Accounts, ConnectedAccount
from integrations.accounts.providers import GoogleOAuth, MicrosoftOAuth

__all__ = ["AccountError", "Accounts", "ConnectedAccount", "GoogleOAuth", "MicrosoftOAuth"]
