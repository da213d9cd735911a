"""The agent: a LangGraph loop over the CodeMem meta-tools."""
