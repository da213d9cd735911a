"""Workspace tools as typed async functions, the tool registry, and the workspace emulator."""
