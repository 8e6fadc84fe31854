"""The company's day: which date it is at home (Moscow; ``server/web_home.py``'s ``TIMEZONE``, a test
checks they agree). A substitute's cover (``crm.access``) starts and ends with the home's days, on the
server and on a laptop alike."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

HOME_ZONE = "Europe/Moscow"


def today() -> date:
    """Today's date at home. Tests move it (``monkeypatch.setattr(clock, "today", …)``): readers
    look it up each time rather than keeping the function."""
    return datetime.now(ZoneInfo(HOME_ZONE)).date()
