"""Microsoft 365 tools (Outlook, OneDrive) on the real msgraph-sdk."""
