"""Build everything a conversation needs once, at start-up: library, directory, catalogs, engine."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .catalog import LOCALES_DIR, Catalogs
from .directory import Service, load_directory
from .engine import Engine, Understanding
from .library import FLOWS_DIR, Library, load_library
from .render import Renderer


@dataclass
class Runtime:
    library: Library
    services: dict[str, Service]
    catalogs: Catalogs
    engine: Engine
    renderer: Renderer

    def warm(self) -> None:
        """Read every language's lexicon and model and build the language detector now (about two seconds),
        so no person's first message waits for them."""
        from safety.understand import warm

        warm(self.catalogs.languages)


def understand_with_safety(text: str, lang: str) -> Understanding:
    """Read free text with the safety layer's lexicons and decide where it leads."""
    from safety.understand import decide, understand

    understood = understand(text, lang)
    return Understanding(understood.risks, decide(understood), understood.language)


def build(flows_dir: Path = FLOWS_DIR, locales_dir: Path = LOCALES_DIR, services: dict | None = None,
          understand: Callable[[str, str], Understanding] | None = None) -> Runtime:
    """Load and validate the data files and build the one shared engine; raise LibraryError on problems."""
    library = load_library(flows_dir)
    directory = load_directory(Path(flows_dir) / "directory.yaml", services)
    catalogs = Catalogs(locales_dir)
    available = {sid for sid, s in directory.items() if s.available}
    if understand is None:
        understand = understand_with_safety
        understand("hello", "en")  # load the lexicons now: a broken one fails start-up, not a person's turn
    engine = Engine(library, catalogs.text, catalogs.languages, available, understand)
    return Runtime(library, directory, catalogs, engine, Renderer(catalogs, directory))
