"""The platform-neutral core: each journey written once, rendered by every chat surface."""
