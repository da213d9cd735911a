"""The runtime: tool bridge, background jobs and skill runs."""
