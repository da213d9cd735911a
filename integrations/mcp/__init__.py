"""Tools of external MCP servers as typed functions: schemas to Python types, the client, the tool index."""
