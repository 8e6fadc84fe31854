"""``python -m clients.cli``: ``satchel-field`` in a fresh interpreter (bench/, the tests)."""

import os

from clients.cli import app

os.environ.setdefault("COLUMNS", "120")
app()
