"""The scripted demo that ships with CodeMem: the case study's conversation for the replay model
(`CODEMEM_MODEL=replay:bot/demo/save_attachments.yaml` from the repository or the image's /app)."""

from pathlib import Path

SCENARIO = Path(__file__).with_name("save_attachments.yaml")
