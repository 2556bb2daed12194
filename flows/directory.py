"""The service directory: every number shown to a person comes from here, with its source and date."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .library import FLOWS_DIR, LibraryError, read_yaml

FIELDS = ("name", "kind", "phone", "text", "web", "email", "hours", "for_whom", "notes")
KINDS = {"emergency", "helpline", "scheme", "local"}
STALE_AFTER = dt.timedelta(days=183)


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    kind: str
    sources: tuple[str, ...]
    last_checked: dt.date
    verified: bool
    phone: str | None = None
    text: str | None = None
    web: str | None = None
    email: str | None = None
    hours: str | None = None
    for_whom: str | None = None
    notes: str | None = None
    configured: bool = False

    @property
    def available(self) -> bool:
        """Say whether this entry may be shown to the public."""
        return self.verified or self.configured


def load_directory(path: Path = FLOWS_DIR / "directory.yaml", overrides: dict | None = None) -> dict[str, Service]:
    """Load and validate the directory, then apply deployment configuration for local services."""
    data = read_yaml(path)
    problems = []
    services: dict[str, Service] = {}
    allowed = {f.name for f in fields(Service)} - {"configured"}
    for i, entry in enumerate(data.get("services") or []):
        where = f"{path.name}:{getattr(entry, 'line', 0)}: services[{i}]"
        if not isinstance(entry, dict) or not entry.get("id"):
            problems.append(f"{where}: each entry needs an id")
            continue
        where += f" ({entry['id']})"
        missing = {"name", "kind", "sources", "last_checked", "verified"} - set(entry)
        unknown = set(entry) - allowed
        if missing or unknown:
            problems.append(f"{where}: missing {sorted(missing)}, unknown {sorted(unknown)}".replace(", unknown []", "")
                            .replace("missing [], ", ""))
            continue
        if entry["kind"] not in KINDS:
            problems.append(f"{where}.kind: {entry['kind']!r} is not one of {sorted(KINDS)}")
        if not isinstance(entry["last_checked"], dt.date):
            problems.append(f"{where}.last_checked: expected a date like 2026-11-01")
        if not entry["sources"]:
            problems.append(f"{where}.sources: every entry needs at least one source")
        if entry["id"] in services:
            problems.append(f"{where}.id: duplicate id")
        values = {k: (str(v) if k in FIELDS and v is not None else v) for k, v in entry.items()}
        values["sources"] = tuple(entry["sources"] or ())
        services[entry["id"]] = Service(**values)
    for sid, settings in (overrides or {}).items():
        sid = sid.lower()
        settings = {k.lower(): v for k, v in (settings or {}).items()}
        if sid not in services:
            problems.append(f"configuration: SERVICES.{sid}: no such service in {path.name}")
            continue
        bad = set(settings) - set(FIELDS)
        if bad:
            problems.append(f"configuration: SERVICES.{sid}: unknown field(s) {sorted(bad)}")
            continue
        services[sid] = replace(services[sid], configured=True, **{k: str(v) for k, v in settings.items()})
    if problems:
        raise LibraryError(problems)
    return services


def stale_or_unverified(services: dict[str, Service], today: dt.date | None = None) -> list[str]:
    """List entries that are unverified or were last checked more than six months ago."""
    today = today or dt.date.today()
    found = []
    for s in services.values():
        if not s.verified:
            found.append(f"{s.id}: unverified{' (configured for this deployment)' if s.configured else ''}")
        if today - s.last_checked > STALE_AFTER:
            found.append(f"{s.id}: last checked {s.last_checked.isoformat()}, more than 6 months ago")
    return found
