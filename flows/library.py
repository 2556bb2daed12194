"""Load and validate the flow library: YAML files of states that hold message ids, never text."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

FLOWS_DIR = Path(__file__).parent
START = "welcome.start"
MENU = "main.menu"
NOT_FLOWS = {"directory.yaml", "commands.yaml"}
STATE_KEYS = {"say", "ask", "options", "any", "topic", "action", "capture", "entry"}
OPTION_KEYS = {"id", "label", "go", "set", "if", "unless", "answer"}
ANSWERS = {"yes", "no"}  # an option that means yes or no is also chosen by the words for it ("yeah", "nope")
SETTABLE = {"lang", "discreet"}
COMMANDS = ("exit", "menu", "back", "help", "talk", "language")
ID = re.compile(r"^[a-z0-9_]+$")
MSG_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


class LibraryError(Exception):
    """Raised with every problem found, each naming the file, the line or key, and what is wrong."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Say:
    msg: str
    if_: str | None = None
    unless: str | None = None


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    go: str
    set: tuple[tuple[str, object], ...] = ()
    where: str = ""
    if_: str | None = None  # offered only when this service is available or this condition holds
    unless: str | None = None
    answer: str | None = None  # "yes" or "no": also chosen by `common.words_yes` / `common.words_no`


@dataclass(frozen=True)
class State:
    name: str
    say: tuple[Say, ...] = ()
    ask: str | None = None
    options: tuple[Option, ...] = ()
    any: str | None = None
    topic: str | None = None
    where: str = ""  # "flows/x.yaml:12", for messages about this state
    action: str | None = None  # the app does this when the state is entered (reported in the Turn)
    capture: str | None = None  # the answer here (an option id, or words kept as said) is reported under this name
    entry: bool = False  # the app may enter this state directly (the end of a live chat), so it counts as reachable

    @property
    def flow(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Command:
    name: str
    words: str
    go: str | None = None


@dataclass
class Library:
    states: dict[str, State]
    commands: dict[str, Command]
    starts: dict[str, str] = field(default_factory=dict)  # flow name -> its start state

    @property
    def topics(self) -> dict[str, str]:
        return {s.topic: s.name for s in self.states.values() if s.topic}

    def message_ids(self) -> dict[str, str]:
        """Map every message id the library uses to where it is used."""
        ids: dict[str, str] = {}
        for state in self.states.values():
            for msg in [s.msg for s in state.say] + [state.ask] + [o.label for o in state.options]:
                if msg:
                    ids.setdefault(msg, state.where)
        for cmd in self.commands.values():
            ids.setdefault(cmd.words, "flows/commands.yaml")
        return ids


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping key."""


def _mapping_with_lines(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = _Lined(loader.construct_mapping(node, deep=True))
    mapping.lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    mapping.line = node.start_mark.line + 1
    return mapping


class _Lined(dict):
    lines: dict = {}
    line: int = 0


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_lines)


def read_yaml(path: Path) -> dict:
    """Read one data file and check it starts with `version:`."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise LibraryError([f"{path.name}{line}: not valid YAML: {getattr(err, 'problem', err)}"]) from None
    if not isinstance(data, dict) or "version" not in data:
        raise LibraryError([f"{path.name}:1: version: missing; every data file starts with `version: 1`"])
    if data["version"] != 1:
        raise LibraryError([f"{path.name}:1: version: {data['version']!r} is not supported (expected 1)"])
    return data


def _where(path: Path, node, key=None) -> str:
    line = getattr(node, "lines", {}).get(key) if key is not None else getattr(node, "line", 0)
    return f"{path.name}:{line or getattr(node, 'line', 0)}"


def _parse_say(item, where: str, key: str, problems: list[str]) -> Say | None:
    if isinstance(item, str):
        return Say(item)
    if isinstance(item, dict) and isinstance(item.get("msg"), str) and set(item) <= {"msg", "if", "unless"}:
        return Say(item["msg"], item.get("if"), item.get("unless"))
    problems.append(f"{where}: {key}: expected a message id or {{msg, if, unless}}, got {item!r}")
    return None


def _parse_flow(path: Path, problems: list[str]) -> tuple[list[State], dict[str, str]]:
    """Parse one flow file into states; return them and the raw targets to check later."""
    data = read_yaml(path)
    flow = data.get("flow")
    if flow != path.stem:
        problems.append(f"{_where(path, data, 'flow')}: flow: {flow!r} must equal the file name {path.stem!r}")
        flow = path.stem
    states_data = data.get("states")
    if not isinstance(states_data, dict) or not states_data:
        problems.append(f"{_where(path, data, 'states')}: states: missing or empty")
        return [], {}
    start = data.get("start", "start")
    if start not in states_data:
        problems.append(f"{_where(path, data, 'start')}: start: {start!r} is not a state of this flow")
    states = []
    for local, sd in states_data.items():
        key = f"states.{local}"
        where = _where(path, states_data, local)
        if not isinstance(sd, dict):
            problems.append(f"{where}: {key}: expected a mapping of say/ask/options/any/topic")
            continue
        unknown = set(sd) - STATE_KEYS
        if unknown:
            problems.append(f"{where}: {key}: unknown key(s) {sorted(unknown)}; allowed: {sorted(STATE_KEYS)}")
        say = [_parse_say(item, where, f"{key}.say[{i}]", problems) for i, item in enumerate(sd.get("say") or [])]
        options = []
        seen = set()
        for i, od in enumerate(sd.get("options") or []):
            okey = f"{key}.options[{i}]"
            owhere = f"{path.name}:{getattr(od, 'line', 0)}"
            if not isinstance(od, dict) or not {"id", "label", "go"} <= set(od) or set(od) - OPTION_KEYS:
                problems.append(f"{owhere}: {okey}: an option needs id, label and go (and may have set, if, unless, answer)")
                continue
            if od.get("answer") is not None and od["answer"] not in ANSWERS:
                problems.append(f"{owhere}: {okey}.answer: must be one of {sorted(ANSWERS)}")
            if not ID.match(str(od["id"])) or od["id"] in seen:
                problems.append(f"{owhere}: {okey}.id: {od['id']!r} must be [a-z0-9_]+ and unique in the state")
            seen.add(od["id"])
            settings = od.get("set") or {}
            if not isinstance(settings, dict) or set(settings) - SETTABLE:
                problems.append(f"{owhere}: {okey}.set: only {sorted(SETTABLE)} may be set")
                settings = {}
            options.append(Option(str(od["id"]), od["label"], str(od["go"]), tuple(settings.items()), owhere,
                                  od.get("if"), od.get("unless"), od.get("answer")))
        ask = sd.get("ask")
        if options and not ask:
            problems.append(f"{where}: {key}.ask: a state with options must ask a question")
        if not options and not sd.get("any"):
            problems.append(f"{where}: {key}: dead end: give it options or `any:`")
        for name in ("action", "capture"):
            if sd.get(name) is not None and not ID.match(str(sd[name])):
                problems.append(f"{where}: {key}.{name}: {sd[name]!r} must be a name like [a-z0-9_]+")
        states.append(State(
            name=f"{flow}.{local}", say=tuple(s for s in say if s), ask=ask, options=tuple(options),
            any=str(sd["any"]) if sd.get("any") else None, topic=sd.get("topic"), where=where,
            action=sd.get("action"), capture=sd.get("capture"), entry=bool(sd.get("entry")),
        ))
    return states, {"start": f"{flow}.{start}"}


def load_commands(path: Path) -> dict[str, Command]:
    """Load the global commands, declared once for every state."""
    data = read_yaml(path)
    commands = data.get("commands") or {}
    problems = []
    if set(commands) != set(COMMANDS):
        problems.append(f"{path.name}: commands: expected exactly {list(COMMANDS)}, got {sorted(commands)}")
    result = {}
    for name, cd in commands.items():
        if not isinstance(cd, dict) or not isinstance(cd.get("words"), str):
            problems.append(f"{_where(path, commands, name)}: commands.{name}: needs `words:` (a message id)")
            continue
        result[name] = Command(name, cd["words"], cd.get("go"))
    if problems:
        raise LibraryError(problems)
    return result


def load_library(directory: Path = FLOWS_DIR) -> Library:
    """Load every flow under `directory`, resolve targets, and raise LibraryError listing all problems."""
    directory = Path(directory)
    problems: list[str] = []
    states: dict[str, State] = {}
    starts: dict[str, str] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name in NOT_FLOWS:
            continue
        try:
            flow_states, info = _parse_flow(path, problems)
        except LibraryError as err:
            problems.extend(err.problems)
            continue
        starts[path.stem] = info["start"]
        for state in flow_states:
            states[state.name] = state
    try:
        commands = load_commands(directory / "commands.yaml")
    except FileNotFoundError:
        problems.append("commands.yaml: missing: the global commands must be declared once there")
        commands = {}
    except LibraryError as err:
        problems.extend(err.problems)
        commands = {}

    def resolve(target: str | None, flow: str, where: str, key: str) -> str | None:
        """Resolve `go:` to a full state name: a local state, flow.state, or a bare flow name."""
        if target is None:
            return None
        for name in (f"{flow}.{target}", target):
            if name in states:
                return name
        if target in starts:
            return starts[target]
        problems.append(f"{where}: {key}: unknown state {target!r}")
        return None

    resolved = {}
    for state in states.values():
        options = tuple(
            replace(o, go=resolve(o.go, state.flow, o.where, f"{state.name}.options.{o.id}.go") or o.go)
            for o in state.options
        )
        any_ = resolve(state.any, state.flow, state.where, f"{state.name}.any")
        resolved[state.name] = replace(state, options=options, any=any_)
    commands = {
        n: Command(c.name, c.words, resolve(c.go, "", "commands.yaml", f"commands.{n}.go") if c.go else None)
        for n, c in commands.items()
    }
    topics: dict[str, str] = {}
    for state in resolved.values():
        if state.topic in topics:
            problems.append(f"{state.where}: {state.name}.topic: {state.topic!r} is already on {topics[state.topic]}")
        elif state.topic:
            topics[state.topic] = state.name
    for required in (START, MENU):
        if states and required not in resolved:
            problems.append(f"{required.split('.')[0]}.yaml: states.{required.split('.')[1]}: missing; "
                            f"every conversation needs {required}")
    if problems:
        raise LibraryError(problems)
    return Library(resolved, commands, starts)
