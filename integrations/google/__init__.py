"""Google Workspace tools (Gmail, Sheets) on the real google-api-python-client."""
