"""Safe names for the files letters carry."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["safe_filename"]

_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
_WINDOWS_RESERVED = re.compile(r"(?i)^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$")


def safe_filename(name: str, *, fallback: str = "attachment") -> str:
    """A file name that is safe on every OS and in a URL path segment.

    Directory parts are dropped, control and reserved characters replaced, leading
    dots removed (no hidden files, no ``..``), Windows device names defused, and the
    name cut to 200 UTF-8 bytes keeping the extension.
    """
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME_CHARS.sub("_", name)
    name = " ".join(name.split()).lstrip(". ").rstrip(". ")
    if not name:
        name = fallback
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    if len(name.encode("utf-8")) > 200:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext) > 16:
            stem, ext = name, ""
        budget = 200 - len(ext.encode("utf-8")) - (1 if ext else 0)
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = f"{stem}.{ext}" if ext else stem
    return name
