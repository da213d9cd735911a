"""Alembic migrations of the CodeMem database; ``skills_db.db.init_db`` applies them."""
