"""Message catalogs (one Babel .po file a language) and rendering with numbers from the directory."""

from __future__ import annotations

import os
import string
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from .directory import Service

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DEFAULT_LANG = "en"


class Catalogs:
    """Hold every language's messages in memory; English is the fallback and the reference."""

    def __init__(self, locales_dir: Path = LOCALES_DIR):
        self.locales_dir = Path(locales_dir)
        self.messages: dict[str, dict[str, str]] = {}
        for po in sorted(self.locales_dir.glob("*/LC_MESSAGES/messages.po")):
            self.messages[po.parent.parent.name] = {
                m.id: m.string for m in compiled(po) if m.id and isinstance(m.id, str) and m.string
            }
        if DEFAULT_LANG not in self.messages:
            raise FileNotFoundError(f"{locales_dir}/{DEFAULT_LANG}/LC_MESSAGES/messages.po: the English catalog is missing")

    @property
    def languages(self) -> list[str]:
        return list(self.messages)

    def text(self, msg_id: str, lang: str = DEFAULT_LANG) -> str:
        """Return the raw text of a message in `lang`, falling back to English, then to the id."""
        found = self.messages.get(lang, {}).get(msg_id)
        return found if found is not None else self.messages[DEFAULT_LANG].get(msg_id, msg_id)


def compiled(po: Path) -> Catalog:
    """Read a language's compiled catalog (messages.mo), compiling it from messages.po when that is newer.

    Fuzzy and empty translations are left out, so English shows instead. The .mo is replaced
    atomically, so workers starting together never read half a file; where the folder is read-only
    the catalog compiled in memory is used.
    """
    mo = po.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
        with mo.open("rb") as fh:
            return read_mo(fh)
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=po.parent.parent.name)
    try:
        fd, tmp = tempfile.mkstemp(dir=po.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog)
        os.replace(tmp, mo)
    except OSError:
        pass
    for message in list(catalog):
        if message.fuzzy and message.id:
            catalog.delete(message.id)
    return catalog


def placeholders(text: str) -> list[str]:
    """List the `{field}` names a message uses."""
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


class _Values(dict):
    """Format values: service ids resolve to Service objects, other names to the given params (a param
    written "@<service id>" is that service: {service.phone})."""

    def __init__(self, services: dict[str, Service], params: dict):
        self.services = services
        super().__init__({k: self[v[1:]] if isinstance(v, str) and v.startswith("@") else v for k, v in params.items()})

    def __missing__(self, key):
        service = self.services.get(key)
        if service is None or not service.available:
            raise KeyError(key)
        return _Filled(service)


class _Filled:
    """A service whose empty fields raise KeyError, so a message never shows "None" for a number."""

    def __init__(self, service: Service):
        self._service = service

    def __getattr__(self, name: str):
        value = getattr(self._service, name)
        if value is None:
            raise KeyError(f"{self._service.id}.{name}")
        return value


def render_text(text: str, services: dict[str, Service], params: dict | None = None) -> str:
    """Fill `{service.field}` and `{param}` placeholders; an unavailable service raises KeyError."""
    return text.format_map(_Values(services, params or {}))
