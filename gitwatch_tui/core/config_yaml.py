"""YAML text to a typed Config, with every problem reported as file:line:column.

The file is composed into PyYAML's node tree (by libyaml when PyYAML has it) and never
constructed into Python objects by PyYAML, so every value keeps its position, unknown tags are
refused, and YAML 1.1 implicit typing (`no` -> False, `010` -> 8) never reaches a string field:
string fields take the raw text. Each section is a small table of field readers, so a new key
is one line in a table.
"""

from __future__ import annotations

import difflib
import gc
import ipaddress
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import yaml
from yaml.error import Mark
from yaml.events import CollectionStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError

from gitwatch_tui.core.config import (
    DEFAULT_HANDOFF,
    NOTIFY_KINDS,
    WEBHOOK_PROVIDERS,
    Config,
    Defaults,
    EmailTarget,
    NotifyRate,
    NotifySettings,
    RateLimit,
    SavedCommand,
    ServerSettings,
    WebhookTarget,
    expand_user,
    is_http_url,
    parse_listen,
)
from gitwatch_tui.core.configmap import label_problem, spec_problems
from gitwatch_tui.core.cron import CronError, CronSchedule
from gitwatch_tui.core.errors import ConfigError, ConfigProblem, file_error
from gitwatch_tui.core.models import (
    AUTO_SYNC_POLICIES,
    PULL_MODES,
    CloneOptions,
    ConfigMapSpec,
    PipelineStep,
    RepoSpec,
    ScanRoot,
    SourceLocation,
    StepLimits,
)
from gitwatch_tui.core.sizes import SIZE_SPELLINGS, format_size, parse_size


class _Position(Protocol):
    """A YAML mark, from PyYAML's Python or C parser (two classes of the same shape)."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> int: ...


MAX_DEPTH = 50  # nesting levels, written out or reached through aliases
# Values aliases may add, each use counting the whole value it names: 10,000 repos can each
# merge a 100-value anchor, and a few lines cannot make the readers walk a billion.
MAX_ALIAS_VALUES = 1_000_000

_TAG = "tag:yaml.org,2002:"
_NULL, _MERGE, _STR = _TAG + "null", _TAG + "merge", _TAG + "str"
_NULL_WORDS = frozenset(("", "~", "null", "Null", "NULL"))  # what YAML 1.1 reads as null
_DEFAULT_TAGS = {ScalarNode: _STR, SequenceNode: _TAG + "seq", MappingNode: _TAG + "map"}
# The standard tags of PyYAML's safe resolver, written `!!str`-style or given to plain
# scalars. Everything else (`!!python/object`, `!!binary`, `!custom`) is refused.
_ALLOWED_TAGS = frozenset(
    _TAG + name
    for name in ("str", "int", "float", "bool", "null", "timestamp", "value", "merge", "seq", "map")
)


def read_config(
    text: str, filename: str, *, base_dir: Path, env: Mapping[str, str] = os.environ
) -> Config:
    """Read config text into a Config; relative paths are taken from `base_dir`."""
    ctx = _Context(filename, base_dir.absolute(), env)
    try:
        with _collector_paused():
            config = _read_text(text, ctx)  # its node graph is freed before the collector runs
    except RecursionError:  # the depth limits should make this unreachable
        raise file_error(filename, "nesting too deep") from None
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return config


def _read_text(text: str, ctx: _Context) -> Config:
    root = _compose(text, ctx)
    if root is not None:
        _check_graph(root, ctx)
    return _read_top(root, ctx)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Hold off the cyclic garbage collector while a file is read.

    Composing makes a few objects per value, none in a cycle (alias loops are refused), and
    each collection rescans the growing node graph: about a third of the time for 10,000
    repos.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- YAML to a checked node graph ---------------------------------------------------------------


class _PlainScalars:
    """Tag plain scalars only as null, `<<` (merge) or str: all the readers look at.

    Readers take a scalar's raw text, so YAML 1.1 implicit types (ints, bools, dates) are
    never used, and PyYAML's resolver spends a regular expression per scalar finding them.
    Explicit tags (`!!int 3`, `!!python/...`) are kept as written, to be checked.
    """

    def resolve(self, kind: type[Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode and implicit[0]:
            return _NULL if value in _NULL_WORDS else _MERGE if value == "<<" else _STR
        return _DEFAULT_TAGS[kind]  # what PyYAML's safe resolver gives them


class _TooDeepError(Exception):
    """A collection nested deeper than MAX_DEPTH, found while composing."""

    def __init__(self, mark: _Position | None) -> None:
        super().__init__(mark)
        self.mark = mark


class _PureLoader(_PlainScalars, yaml.SafeLoader):
    """PyYAML's Python parser; it composes by recursion, so nesting is limited as it goes."""

    depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        if not isinstance(event, CollectionStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:  # before 10,000 `[` make a RecursionError
            raise _TooDeepError(event.start_mark)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_FastLoader: type[yaml.CSafeLoader] | None = None
if yaml.__with_libyaml__:

    class _CLoader(_PlainScalars, yaml.CSafeLoader):
        """libyaml's parser and composer, in C; libyaml itself stops at 1,000 levels."""

    _FastLoader = _CLoader


class _BadValueError(Exception):
    """One value is wrong; the field loop records it and goes on to the next key."""

    def __init__(self, node: Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


@dataclass
class _Context:
    filename: str
    base_dir: Path
    env: Mapping[str, str]
    # A dict as an ordered set: a value merged or aliased N times repeats its problems N times.
    problems: dict[ConfigProblem, None] = field(default_factory=dict)

    def location(self, mark: _Position) -> SourceLocation:
        return SourceLocation(self.filename, mark.line + 1, mark.column + 1)

    def error(self, node: Node, message: str) -> None:
        self.problems[ConfigProblem(self.location(node.start_mark), message)] = None

    def fatal(self, mark: _Position | None, message: str) -> ConfigError:
        """An error that stops reading, reported after the problems found so far."""
        if mark is None:
            return ConfigError([*self.problems, ConfigProblem(None, f"{self.filename}: {message}")])
        return ConfigError([*self.problems, ConfigProblem(self.location(mark), message)])


def _compose(text: str, ctx: _Context) -> Node | None:
    """The node graph, from libyaml when it is there; problems are worded by PyYAML's parser.

    A file libyaml refuses is read again by the Python parser, which finds the same fault at
    the same place in more words (it names an undefined alias, libyaml does not), so messages
    do not depend on how PyYAML was installed.
    """
    if _FastLoader is not None:
        try:
            node: Node | None = yaml.compose(text, Loader=_FastLoader)
            return node
        except (yaml.YAMLError, UnicodeEncodeError):  # a lone surrogate cannot go to libyaml
            pass
    try:
        node = yaml.compose(text, Loader=_PureLoader)
        return node
    except _TooDeepError as exc:
        raise ctx.fatal(exc.mark, f"nesting deeper than {MAX_DEPTH} levels") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ctx.fatal(mark, f"invalid YAML: {exc.problem or exc.context}") from None
    except ReaderError as exc:
        line = text.count("\n", 0, exc.position)
        column = exc.position - text.rfind("\n", 0, exc.position) - 1
        mark = Mark(ctx.filename, exc.position, line, column, None, 0)
        raise ctx.fatal(mark, f"character {exc.character:#06x} is not allowed") from None
    except yaml.YAMLError as exc:
        raise ctx.fatal(None, f"invalid YAML: {exc}") from None


def _check_graph(root: Node, ctx: _Context) -> None:
    """Flag bad tags and duplicate keys; refuse deep nesting, alias bombs, loops and chains."""
    if _check_written(root, ctx):
        _check_aliases(root, ctx)


def _check_written(root: Node, ctx: _Context) -> bool:
    """Check each value once, where it is written; True if an alias uses one again.

    Walked in document order, so the first visit of a value is where it is written (an alias
    follows its anchor) and the first value nested too deep is the first in the file.
    """
    seen: set[int] = set()
    reused = False
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            reused = True
            continue
        seen.add(id(node))
        if node.tag not in _ALLOWED_TAGS:
            ctx.error(node, f"tag '{node.tag.replace(_TAG, '!!')}' is not allowed")
        if isinstance(node, ScalarNode):
            continue
        if depth >= MAX_DEPTH:
            raise ctx.fatal(node.start_mark, f"nesting deeper than {MAX_DEPTH} levels")
        if isinstance(node, MappingNode):
            _check_keys(node, ctx)
        stack.extend((kid, depth + 1) for kid in reversed(_children(node)))
    return reused


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _check_aliases(root: Node, ctx: _Context) -> None:
    """Refuse alias bombs, alias loops and deep alias chains.

    Each use of an alias adds the whole value it names, its own aliases expanded; sizes are
    memoised per node, so this is linear in the text however large the expansion. Walked in
    document order, so an alias is met after its anchor's value is measured, and the values
    added are counted in the order they are written. Iterative: alias chains can be longer
    than Python's stack.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    open_nodes: set[int] = set()
    added = 0
    stack: list[tuple[Node, Node, bool]] = [(root, root, False)]  # (node, holder, finished)
    while stack:
        node, holder, finished = stack.pop()
        key, kids = id(node), _children(node)
        if finished:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            nested = max((height[id(kid)] for kid in kids), default=0)
            height[key] = 0 if isinstance(node, ScalarNode) else 1 + nested
            if height[key] > MAX_DEPTH:
                raise ctx.fatal(node.start_mark, f"aliases nest deeper than {MAX_DEPTH} levels")
        elif key in open_nodes:  # reached from inside itself
            raise ctx.fatal(node.start_mark, "an alias refers to a collection that contains it")
        elif key in size:  # an alias: its holder gets a copy of the whole value
            added += size[key]
            if added > MAX_ALIAS_VALUES:
                raise ctx.fatal(
                    holder.start_mark, f"aliases expand to over {MAX_ALIAS_VALUES} values"
                )
        else:
            open_nodes.add(key)
            stack.append((node, holder, True))
            stack.extend((kid, node, False) for kid in reversed(kids))


def _check_keys(node: MappingNode, ctx: _Context) -> None:
    # PyYAML silently keeps the last of two equal keys; a typo'd copy would go unnoticed.
    first: dict[str, Node] = {}
    for key, _ in node.value:
        if isinstance(key, ScalarNode):
            if key.value in first:
                line = first[key.value].start_mark.line + 1
                ctx.error(key, f"duplicate key '{_quote(key.value)}' (first on line {line})")
            first.setdefault(key.value, key)


# -- Nodes to typed values ----------------------------------------------------------------------

Reader = Callable[[Node, _Context], Any]


def _describe(node: Node) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if isinstance(node, MappingNode):
        return "a mapping"
    return f"'{_quote(node.value)}'" if node.value else "an empty value"


def _quote(raw: str) -> str:
    """Raw YAML text for a message, cut short; never an expanded value, which may be a secret."""
    return raw if len(raw) <= 60 else raw[:57] + "..."


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL


def _pairs(node: MappingNode, ctx: _Context) -> dict[str, tuple[Node, Node]]:
    """Key -> (key node, value node) with `<<` merges applied: own keys win, then earlier merges."""
    merged: dict[str, tuple[Node, Node]] = {}
    own: dict[str, tuple[Node, Node]] = {}
    for key, value in node.value:
        if key.tag == _MERGE:
            sources = value.value if isinstance(value, SequenceNode) else [value]
            for source in reversed(sources):
                if isinstance(source, MappingNode):
                    merged.update(_pairs(source, ctx))
                else:
                    ctx.error(source, f"'<<' merges mappings, got {_describe(source)}")
        elif isinstance(key, ScalarNode):
            own[key.value] = (key, value)
        else:
            ctx.error(key, f"keys must be plain strings, got {_describe(key)}")
    return merged | own


def _read_fields(
    node: Node,
    fields: Mapping[str, Reader],
    ctx: _Context,
    where: str,
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """Read a mapping through a table of field readers, recording every problem found."""
    values: dict[str, Any] = {}
    if not isinstance(node, MappingNode):
        ctx.error(node, f"{where}: expected a mapping, got {_describe(node)}")
        return values
    pairs = _pairs(node, ctx)
    for name, (key_node, value_node) in pairs.items():
        reader = fields.get(name)
        if reader is None:
            close = difflib.get_close_matches(name, list(fields), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "valid keys: " + ", ".join(fields)
            ctx.error(key_node, f"unknown key '{_quote(name)}' in {where}; {hint}")
            continue
        if value_node.tag not in _ALLOWED_TAGS:  # already reported by _check_node
            continue
        try:
            values[name] = reader(value_node, ctx)
        except _BadValueError as exc:
            ctx.error(exc.node, f"{name}: {exc.message}")
    for name in required:
        if name not in pairs:
            ctx.error(node, f"missing required key '{name}' in {where}")
    return values


def _scalar(node: Node, expected: str) -> str:
    if not isinstance(node, ScalarNode) or not node.value:
        raise _BadValueError(node, f"expected {expected}, got {_describe(node)}")
    return str(node.value)


def _read_str(node: Node, ctx: _Context) -> str:
    # The raw text: `name: no` is the string "no", `branches: [010]` is "010".
    return _scalar(node, "a string")


def _read_str_list(node: Node, ctx: _Context) -> tuple[str, ...]:
    if isinstance(node, SequenceNode):
        return tuple(_read_str(item, ctx) for item in node.value)
    return (_scalar(node, "a string or a list of strings"),)


def _read_expanded_str(node: Node, ctx: _Context) -> str:
    return _expand_vars(_read_str(node, ctx), node, ctx.env)


def _read_bool(node: Node, ctx: _Context) -> bool:
    raw = _scalar(node, "true or false")
    value = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
    if raw.lower() not in value:
        raise _BadValueError(node, f"expected true or false, got '{_quote(raw)}'")
    return value[raw.lower()]


def _int_reader(minimum: int, maximum: int | None = None) -> Reader:
    def read(node: Node, ctx: _Context) -> int:
        raw = _scalar(node, "an integer")
        # Decimal only: YAML 1.1 would read `010` as 8 and `1:30` as 90.
        if not re.fullmatch(r"[+-]?\d+", raw):
            raise _BadValueError(node, f"expected an integer, got '{_quote(raw)}'")
        if int(raw) < minimum:
            raise _BadValueError(node, f"must be at least {minimum}, got {int(raw)}")
        if maximum is not None and int(raw) > maximum:
            raise _BadValueError(node, f"must be at most {maximum}, got {int(raw)}")
        return int(raw)

    return read


def _choice_reader(choices: tuple[str, ...]) -> Reader:
    def read(node: Node, ctx: _Context) -> str:
        raw = _scalar(node, "one of " + ", ".join(choices))
        if raw not in choices:
            valid = ", ".join(choices)
            raise _BadValueError(node, f"invalid value '{_quote(raw)}'; expected one of: {valid}")
        return raw

    return read


_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _read_duration(node: Node, ctx: _Context) -> float:
    raw = _scalar(node, "a duration such as 30s or 5m").strip()
    body = raw.removeprefix("-")
    if _NUMBER.fullmatch(body):
        seconds = float(body)
    elif body and not _DURATION_PART.sub("", body):  # nothing but <number><unit> parts
        seconds = sum(float(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(body))
    else:
        raise _BadValueError(
            node,
            f"invalid duration '{_quote(raw)}'; use seconds or a number with a unit: "
            "500ms, 30s, 5m, 1h, 1h30m",
        )
    if seconds <= 0 or raw.startswith("-"):
        raise _BadValueError(node, f"must be greater than 0, got '{_quote(raw)}'")
    return seconds


def _size_reader(*, minimum: int, maximum: int | None = None, unlimited: bool = False) -> Reader:
    """A size (`sizes.parse_size`: bytes, or K, M, G in any spelling) from `minimum` to
    `maximum` bytes; with `unlimited`, also the word `unlimited` (None)."""
    extra = ", or unlimited" if unlimited else ""

    def read(node: Node, ctx: _Context) -> int | None:
        raw = _scalar(node, "a size such as 1048576, 512K or 1MiB").strip()
        if unlimited and raw == "unlimited":
            return None
        try:
            size = parse_size(raw)
        except ValueError:
            raise _BadValueError(
                node, f"invalid size '{_quote(raw)}'; use {SIZE_SPELLINGS}{extra}"
            ) from None
        if size < minimum:
            raise _BadValueError(
                node, f"must be at least {format_size(minimum)}, got '{_quote(raw)}'"
            )
        if maximum is not None and size > maximum:
            raise _BadValueError(
                node, f"must be at most {format_size(maximum)}, got '{_quote(raw)}'"
            )
        return size

    return read


_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VAR_REF = re.compile(r"\$\$|\$\{(?P<name>[^}]*)(?P<close>\}?)")


def _expand_vars(raw: str, node: Node, env: Mapping[str, str]) -> str:
    """Substitute `${VAR}` from `env`; `$$` is a literal `$`, and any other `$` is left alone."""

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        name = match["name"]
        if not match["close"] or not _VAR_NAME.fullmatch(name):
            raise _BadValueError(
                node, f"bad variable reference '{_quote(match[0])}' (use ${{NAME}})"
            )
        if name not in env:
            raise _BadValueError(node, f"environment variable {name} is not set")
        return env[name]

    return _VAR_REF.sub(substitute, raw)


def _read_path(node: Node, ctx: _Context) -> Path:
    raw = _scalar(node, "a path")
    text = _expand_vars(expand_user(raw, ctx.env), node, ctx.env)
    if not text:
        raise _BadValueError(node, f"path '{_quote(raw)}' is empty once variables are expanded")
    return Path(os.path.normpath(os.path.join(ctx.base_dir, text)))  # one Path made, not two


def _read_scan_path(node: Node, ctx: _Context) -> Path:
    path = _read_path(node, ctx)
    if not path.is_dir():
        problem = "is not a folder" if path.exists() else "does not exist"
        raise _BadValueError(node, f"scan folder '{_quote(node.value)}' {problem}")
    return path


def _items(node: Node) -> list[Node]:
    if _is_null(node):  # `scan:` with every entry commented out
        return []
    if not isinstance(node, SequenceNode):
        raise _BadValueError(node, f"expected a list, got {_describe(node)}")
    return list(node.value)


def _read_item(node: Node, fields: Mapping[str, Reader], ctx: _Context, where: str) -> Any:
    """A list entry: a bare path, or a mapping with a required `path`; None if unusable."""
    if not isinstance(node, ScalarNode):
        values = _read_fields(node, fields, ctx, where, required=("path",))
        return values if "path" in values else None
    try:
        return {"path": fields["path"](node, ctx)}
    except _BadValueError as exc:
        ctx.error(exc.node, exc.message)
        return None


def _read_schedule(node: Node, ctx: _Context) -> CronSchedule:
    try:
        return CronSchedule.parse(_read_str(node, ctx))
    except CronError as exc:
        raise _BadValueError(node, str(exc)) from None


def _read_clone(node: Node, ctx: _Context) -> CloneOptions:
    return CloneOptions(**_read_fields(node, _CLONE_FIELDS, ctx, "clone"))


def _read_defaults(node: Node, ctx: _Context) -> Defaults:
    if _is_null(node):
        return Defaults()
    return Defaults(**_read_fields(node, _DEFAULT_FIELDS, ctx, "defaults"))


def _read_scan(node: Node, ctx: _Context) -> tuple[ScanRoot, ...]:
    items = (_read_item(item, _SCAN_FIELDS, ctx, "a scan entry") for item in _items(node))
    return tuple(ScanRoot(**values) for values in items if values is not None)


def _read_repos(node: Node, ctx: _Context) -> tuple[RepoSpec, ...]:
    repos: list[RepoSpec] = []
    first_line: dict[str, int] = {}
    for item in _items(node):
        values = _read_item(item, _REPO_FIELDS, ctx, "a repos entry")
        if values is None:
            continue
        _repo_extras(item, values, ctx)
        explicit = "name" in values
        path: Path = values["path"]
        name = values.setdefault("name", path.name or str(path))
        spec = RepoSpec(**values, source=ctx.location(item.start_mark))
        if name in first_line:
            own = _pairs(item, ctx) if isinstance(item, MappingNode) else {}
            where = own.get("name" if explicit else "path", (item, item))[1]
            # A name taken from the path may come from a variable, so quote the raw path.
            what = f"'{_quote(name)}'" if explicit else f"from path '{_quote(where.value)}'"
            ctx.error(where, f"duplicate repo name {what} (first used on line {first_line[name]})")
        else:
            first_line[name] = item.start_mark.line + 1
        repos.append(spec)
    return tuple(repos)


def _read_theme(node: Node, ctx: _Context) -> str | None:
    # `theme:` left empty (or `~`) means the default theme, not a theme named "null".
    return None if _is_null(node) else _read_str(node, ctx)


def _read_top(root: Node | None, ctx: _Context) -> Config:
    if root is None or _is_null(root):  # an empty or comment-only file
        return Config()
    return Config(**_read_fields(root, _TOP_FIELDS, ctx, "the top level"), **_repos_key(root, ctx))


def _repos_key(root: Node, ctx: _Context) -> dict[str, Any]:
    """Where `repos:` is written and whether it holds a list (`repos: []` is on purpose)."""
    for key, value in root.value if isinstance(root, MappingNode) else ():
        if isinstance(key, ScalarNode) and key.value == "repos":
            listed = isinstance(value, SequenceNode)
            return {"repos_key": ctx.location(key.start_mark), "repos_listed": listed}
    return {}


# The schema: one reader per key. Later sections (`webhooks`, `notify`) add a reader
# here and a field on Config.
_DEFAULT_FIELDS: dict[str, Reader] = {
    "poll_interval": _read_duration,
    "fetch_timeout": _read_duration,
    "clone_timeout": _read_duration,
    "status_timeout": _read_duration,
    "status_concurrency": _int_reader(minimum=1),
    "fetch_concurrency": _int_reader(minimum=1),
}
_CLONE_FIELDS: dict[str, Reader] = {
    "branch": _read_str,
    "depth": _int_reader(minimum=1),
    "filter": _read_str,
}
_SCAN_FIELDS: dict[str, Reader] = {
    "path": _read_scan_path,
    "depth": _int_reader(minimum=0),
    "group": _read_str,
    "include_bare": _read_bool,
    "exclude": _read_str_list,
    "trust": _read_bool,
}
_REPO_FIELDS: dict[str, Reader] = {
    "path": _read_path,
    "name": _read_str,
    "group": _read_str,
    "remote": _read_str,
    "url": _read_expanded_str,
    "clone": _read_clone,
    "poll_interval": _read_duration,
    "schedule": _read_schedule,
    "branches": _read_str_list,
    "auto_sync": _choice_reader(AUTO_SYNC_POLICIES),
    "trust": _read_bool,
}
_TOP_FIELDS: dict[str, Reader] = {
    "defaults": _read_defaults,
    "scan": _read_scan,
    "repos": _read_repos,
    "theme": _read_theme,
    "server": lambda node, ctx: _read_server(node, ctx),  # defined with its section below
}


# -- server: the daemon's webhooks, /metrics and /api ------------------------------------------


def _read_listen(node: Node, ctx: _Context) -> str | None:
    raw = _scalar(node, 'an address such as "127.0.0.1:8787", or off').strip()
    if raw == "off":
        return None
    try:
        parse_listen(raw)
    except ValueError as exc:
        raise _BadValueError(node, str(exc)) from None
    return raw


def _read_env_name(node: Node, ctx: _Context) -> str:
    # The variable's name only: its value is a secret, read when the server starts. What is
    # written here is never quoted back when it is no name: it is often the secret, pasted.
    raw = _read_str(node, ctx)
    if not _VAR_NAME.fullmatch(raw):
        raise _BadValueError(node, "is not a valid environment variable name")
    return raw


CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"  # set by systemd for LoadCredential=


def _read_secret_file(node: Node, ctx: _Context) -> Path:
    """A secret file's path: `~` expanded; a relative one is in `$CREDENTIALS_DIRECTORY` when
    that is set, else next to the config file. Read when the secret is used, never here."""
    # Never quoted back: a secret pasted in place of the path would be shown.
    raw = _scalar(node, "a file path")
    if "\0" in raw:
        raise _BadValueError(node, "is not a file path (it holds a NUL character)")
    path = expand_user(raw, ctx.env)
    if os.path.isabs(path):
        return Path(path)
    return Path(ctx.env.get(CREDENTIALS_DIRECTORY) or ctx.base_dir, path)


def _check_one_of(
    node: Node, keys: tuple[str, str], where: str, ctx: _Context, *, required: bool
) -> bool:
    """Whether at most one of two alternative keys (`secret_env`, `secret_file`) is given, and
    one if `required`; each problem is recorded."""
    present = _pairs(node, ctx) if isinstance(node, MappingNode) else {}
    given = [key for key in keys if key in present]
    if len(given) > 1:
        ctx.error(node, f"{where}: give either {keys[0]} or {keys[1]}, not both")
    elif required and not given:
        ctx.error(node, f"missing required key '{keys[0]}' in {where} (or '{keys[1]}')")
    return len(given) == 1 or (not required and not given)


def _read_proxies(node: Node, ctx: _Context) -> tuple[str, ...]:
    """Addresses or CIDRs (`10.0.0.0/8`, `::1`), kept in their normal written form."""
    networks = []
    for raw in _read_str_list(node, ctx):
        try:
            networks.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
        except ValueError:
            raise _BadValueError(
                node, f"'{_quote(raw)}' is not an IP address or CIDR (10.0.0.0/8, ::1)"
            ) from None
    return tuple(networks)


def _rate_reader(key: str) -> Reader:
    def read(node: Node, ctx: _Context) -> RateLimit:
        return RateLimit(**_read_fields(node, _RATE_FIELDS, ctx, f"server.{key}"))

    return read


def _hook_reader(provider: str, env_key: str, file_key: str) -> Reader:
    """A provider's secret: `{env_key: NAME}` or `{file_key: PATH}` -> (key, value) or None."""

    def read(node: Node, ctx: _Context) -> tuple[str, Any] | None:
        where = f"server.{provider}"
        fields = {env_key: _read_env_name, file_key: _read_secret_file}
        values = _read_fields(node, fields, ctx, where)
        if not _check_one_of(node, (env_key, file_key), where, ctx, required=True):
            return None
        return next(iter(values.items()), None)  # None: its value was bad (reported)

    return read


def _read_server(node: Node, ctx: _Context) -> ServerSettings:
    if _is_null(node):
        return ServerSettings()
    values = _read_fields(node, _SERVER_FIELDS, ctx, "server")
    named = {provider: values.pop(provider, None) for provider in WEBHOOK_PROVIDERS}
    given = {provider: secret for provider, secret in named.items() if secret is not None}
    envs = tuple((p, value) for p, (key, value) in given.items() if key.endswith("_env"))
    files = tuple((p, value) for p, (key, value) in given.items() if key.endswith("_file"))
    return ServerSettings(**values, secret_envs=envs, secret_files=files)


_RATE_FIELDS: dict[str, Reader] = {
    "requests": _int_reader(minimum=1),
    "per": _read_duration,
}
_SERVER_FIELDS: dict[str, Reader] = {
    "listen": _read_listen,
    "max_body": _size_reader(minimum=1024),
    "rate": _rate_reader("rate"),
    "unauthenticated_rate": _rate_reader("unauthenticated_rate"),
    "trusted_proxies": _read_proxies,
    "header_timeout": _read_duration,
    "body_timeout": _read_duration,
    "keepalive_timeout": _read_duration,
    "max_connections": _int_reader(minimum=1),
    "shutdown_grace": _read_duration,
    "github": _hook_reader("github", "secret_env", "secret_file"),
    "gitlab": _hook_reader("gitlab", "token_env", "token_file"),
    "gitea": _hook_reader("gitea", "secret_env", "secret_file"),
    "generic": _hook_reader("generic", "secret_env", "secret_file"),
}


# -- pipelines, deploy by tag, pull mode, notifications --------------------------------------------

_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


MAX_RLIMIT_BYTES = 1024**5  # 1 PiB
MAX_PROCESSES = 4_194_304  # Linux's highest pid_max


def _unlimited_int_reader(minimum: int, maximum: int) -> Reader:
    plain = _int_reader(minimum, maximum)

    def read(node: Node, ctx: _Context) -> int | None:
        if isinstance(node, ScalarNode) and node.value == "unlimited":
            return None
        value: int = plain(node, ctx)
        return value

    return read


def _read_cpu(node: Node, ctx: _Context) -> int | None:
    if isinstance(node, ScalarNode) and node.value == "unlimited":
        return None
    return max(1, math.ceil(_read_duration(node, ctx)))  # RLIMIT_CPU counts whole seconds


def _read_limits(node: Node, ctx: _Context) -> StepLimits:
    values = _read_fields(node, _LIMIT_FIELDS, ctx, "limits")
    renamed = {_LIMIT_NAMES[key]: value for key, value in values.items()}
    return StepLimits(**renamed)


def _read_run(node: Node, ctx: _Context) -> tuple[str, ...]:
    # A list is the argv, run as it is; a string is a shell command line (`sh -c`).
    if isinstance(node, SequenceNode):
        if not node.value:
            raise _BadValueError(node, "the command is empty")
        return tuple(_read_str(item, ctx) for item in node.value)
    return ("sh", "-c", _scalar(node, "a command: a list of arguments, or a string for sh -c"))


def _read_relative(node: Node, ctx: _Context) -> str:
    raw = _read_str(node, ctx)
    if os.path.isabs(raw) or ".." in Path(raw).parts:
        raise _BadValueError(node, f"'{_quote(raw)}' must be a path inside the repo")
    return raw


def _read_env_map(node: Node, ctx: _Context) -> tuple[tuple[str, str], ...]:
    if not isinstance(node, MappingNode):
        raise _BadValueError(node, f"expected a mapping of NAME: value, got {_describe(node)}")
    pairs: list[tuple[str, str]] = []
    for name, (key_node, value_node) in _pairs(node, ctx).items():
        if not _VAR_NAME.fullmatch(name):
            ctx.error(key_node, f"env: '{_quote(name)}' is not an environment variable name")
        elif isinstance(value_node, ScalarNode) and not _is_null(value_node):
            pairs.append((name, str(value_node.value)))  # the raw text: `DEBUG: no` is "no"
        else:
            ctx.error(value_node, f"env: {name}: expected a string, got {_describe(value_node)}")
    return tuple(pairs)


def _read_step_secrets(node: Node, ctx: _Context) -> tuple[tuple[str, Path | None], ...]:
    """`[NAME, {name: NAME, file: PATH}]`: (name, None) for the daemon's variable of that
    name, (name, path) for a file's content delivered as that variable."""
    nodes = node.value if isinstance(node, SequenceNode) else [node]
    secrets = [_read_step_secret(item, ctx) for item in nodes]
    return tuple(secret for secret in secrets if secret is not None)


def _read_step_secret(node: Node, ctx: _Context) -> tuple[str, Path | None] | None:
    if not isinstance(node, MappingNode):
        return _read_env_name(node, ctx), None
    values = _read_fields(node, _STEP_SECRET_FIELDS, ctx, "a step secret", ("name", "file"))
    return (values["name"], values["file"]) if len(values) == 2 else None


def _step_secrets(values: dict[str, Any], item: Node, name: str, ctx: _Context) -> None:
    """`secrets` read as (name, file) pairs to the step's `secrets` and `secret_files`."""
    declared: tuple[tuple[str, Path | None], ...] = values.pop("secrets", ())
    names = [secret for secret, _ in declared]
    twice = sorted({secret for secret in names if names.count(secret) > 1})
    if twice:
        ctx.error(item, f"step '{_quote(name)}': {', '.join(twice)} named twice in secrets")
    values["secrets"] = tuple(dict.fromkeys(names))
    values["secret_files"] = tuple((secret, path) for secret, path in declared if path)


def _read_labels(node: Node, ctx: _Context) -> tuple[tuple[str, str], ...]:
    if not isinstance(node, MappingNode):
        raise _BadValueError(node, f"expected a mapping of label: value, got {_describe(node)}")
    labels: list[tuple[str, str]] = []
    for key, (key_node, value_node) in _pairs(node, ctx).items():
        if not isinstance(value_node, ScalarNode):
            ctx.error(value_node, f"labels: {key}: expected a string")
            continue
        value = "" if _is_null(value_node) else str(value_node.value)
        problem = label_problem(key, value)
        if problem:
            ctx.error(key_node, problem)
        labels.append((key, value))
    return tuple(labels)


def _read_configmap(node: Node, ctx: _Context) -> ConfigMapSpec | None:
    values = _read_fields(node, _CONFIGMAP_FIELDS, ctx, "configmap", required=("name", "files"))
    if "name" not in values or "files" not in values:
        return None
    spec = ConfigMapSpec(**values)
    problems = spec_problems(replace(spec, labels=()))  # labels are reported where they are
    for problem in problems:
        ctx.error(node, f"configmap: {problem}")
    return spec


def _read_pipeline(node: Node, ctx: _Context) -> tuple[PipelineStep, ...]:
    steps: list[PipelineStep] = []
    first_line: dict[str, int] = {}
    for item in _items(node):
        values = _read_fields(item, _STEP_FIELDS, ctx, "a pipeline step", required=("name",))
        if "name" not in values:
            continue
        name = values["name"]
        present = _pairs(item, ctx) if isinstance(item, MappingNode) else {}
        given = [key for key in ("run", "configmap") if key in present]
        if len(given) != 1:
            ctx.error(item, f"step '{_quote(name)}': give either run or configmap")
            continue
        if values.get(given[0]) is None:  # a bad value, already reported
            continue
        _step_secrets(values, item, name, ctx)
        shared = set(dict(values.get("env", ()))) & set(values["secrets"])
        if shared:
            both = ", ".join(sorted(shared))
            ctx.error(item, f"step '{_quote(name)}': {both} both in env and in secrets")
        if name in first_line:
            line = first_line[name]
            ctx.error(item, f"duplicate step name '{_quote(name)}' (first on line {line})")
        first_line.setdefault(name, item.start_mark.line + 1)
        steps.append(PipelineStep(**values))
    return tuple(steps)


_RUN_AS = re.compile(r"[a-z_][-a-z0-9_.]*\$?|\d+", re.IGNORECASE)


def _read_run_as(node: Node, ctx: _Context) -> str:
    raw = _read_str(node, ctx).strip()
    user, _, group = raw.partition(":")
    if not _RUN_AS.fullmatch(user) or (group and not _RUN_AS.fullmatch(group)):
        raise _BadValueError(node, f"'{_quote(raw)}' is not a user or user:group (deploy, 1000)")
    return raw


def _read_tag_pattern(node: Node, ctx: _Context) -> str:
    raw = _read_str(node, ctx)
    if any(char.isspace() for char in raw) or ".." in raw or raw.startswith("-"):
        raise _BadValueError(node, f"'{_quote(raw)}' is not a tag pattern such as v*")
    return raw


def _repo_extras(item: Node, values: dict[str, Any], ctx: _Context) -> None:
    """The repo keys whose config names differ from RepoSpec's, and the checks across keys."""
    if "pull" in values:
        values["pull_mode"] = values.pop("pull")
    if values.get("follow_tag") and values.get("auto_sync", "off") != "off":
        # A tag deploy detaches HEAD, and auto-sync moves a branch: one or the other.
        where = _pairs(item, ctx)["follow_tag"][0] if isinstance(item, MappingNode) else item
        ctx.error(where, "follow_tag and auto_sync cannot both be on; set auto_sync: off")


def _read_kinds(node: Node, ctx: _Context) -> tuple[str, ...]:
    if _is_null(node):
        return ()
    kinds = _read_str_list(node, ctx)
    for kind in kinds:
        if kind not in NOTIFY_KINDS:
            close = difflib.get_close_matches(kind, NOTIFY_KINDS, n=1)
            hint = f"did you mean '{close[0]}'?" if close else "one of " + ", ".join(NOTIFY_KINDS)
            raise _BadValueError(node, f"unknown event '{_quote(kind)}'; {hint}")
    return tuple(dict.fromkeys(kinds))


def _read_webhook_url(node: Node, ctx: _Context) -> str:
    url = _read_expanded_str(node, ctx)
    if not is_http_url(url):
        # The raw text only: once expanded the URL may hold a token.
        raise _BadValueError(node, f"'{_quote(node.value)}' is not an http:// or https:// URL")
    return url


def _read_address(node: Node, ctx: _Context) -> str:
    raw = _read_str(node, ctx)
    if not _ADDRESS.fullmatch(raw):
        raise _BadValueError(node, f"'{_quote(raw)}' is not an e-mail address")
    return raw


def _read_addresses(node: Node, ctx: _Context) -> tuple[str, ...]:
    nodes = node.value if isinstance(node, SequenceNode) else [node]
    if not nodes:
        raise _BadValueError(node, "at least one address is needed")
    return tuple(_read_address(item, ctx) for item in nodes)


def _read_port(node: Node, ctx: _Context) -> int:
    port: int = _int_reader(minimum=1)(node, ctx)
    if port > 65535:
        raise _BadValueError(node, f"must be at most 65535, got {port}")
    return port


def _read_webhook(node: Node, ctx: _Context) -> WebhookTarget | None:
    values = _read_fields(node, _WEBHOOK_FIELDS, ctx, "notify.webhook")
    keys = ("url", "url_file")
    if not _check_one_of(node, keys, "notify.webhook", ctx, required=True):
        return None
    return WebhookTarget(**values) if any(key in values for key in keys) else None


def _read_email(node: Node, ctx: _Context) -> EmailTarget | None:
    required = ("host", "from", "to")
    values = _read_fields(node, _EMAIL_FIELDS, ctx, "notify.email", required=required)
    if values.get("tls") and values.get("starttls"):
        ctx.error(node, "notify.email: tls (port 465) and starttls are exclusive; set one")
    elif values.get("tls"):
        values["starttls"] = False  # the default, STARTTLS, is for a plain connection
    for login in ("username", "password"):
        keys = (f"{login}_env", f"{login}_file")
        _check_one_of(node, keys, "notify.email", ctx, required=False)
    if any(key not in values for key in required):
        return None
    values["sender"] = values.pop("from")
    return EmailTarget(**values)


def _read_notify_rate(node: Node, ctx: _Context) -> NotifyRate:
    return NotifyRate(**_read_fields(node, _NOTIFY_RATE_FIELDS, ctx, "notify.rate"))


def _read_notify(node: Node, ctx: _Context) -> NotifySettings:
    if _is_null(node):
        return NotifySettings()
    return NotifySettings(**_read_fields(node, _NOTIFY_FIELDS, ctx, "notify"))


_LIMIT_NAMES = {
    "cpu": "cpu_seconds",
    "memory": "address_space",
    "file_size": "file_size",
    "processes": "processes",
}
_LIMIT_FIELDS: dict[str, Reader] = {
    "cpu": _read_cpu,
    # A limit past these is no limit, and past 2**63 setrlimit cannot take it: the step failed.
    "memory": _size_reader(minimum=1, maximum=MAX_RLIMIT_BYTES, unlimited=True),
    "file_size": _size_reader(minimum=1, maximum=MAX_RLIMIT_BYTES, unlimited=True),
    "processes": _unlimited_int_reader(minimum=1, maximum=MAX_PROCESSES),
}
_CONFIGMAP_FIELDS: dict[str, Reader] = {
    "name": _read_str,
    "namespace": _read_str,
    "labels": _read_labels,
    "files": _read_str_list,
    "output": _read_str,
    # Kubernetes itself refuses a ConfigMap over 1 MiB.
    "max_bytes": _size_reader(minimum=1, maximum=1024 * 1024),
    "apply": _read_bool,
}
_STEP_FIELDS: dict[str, Reader] = {
    "name": _read_str,
    "run": _read_run,
    "configmap": _read_configmap,
    "cwd": _read_relative,
    "env": _read_env_map,
    "secrets": _read_step_secrets,
    "timeout": _read_duration,
    "on_failure": _choice_reader(("stop", "continue")),
    "branches": _read_str_list,
    "limits": _read_limits,
    "run_as": _read_run_as,
}
_STEP_SECRET_FIELDS: dict[str, Reader] = {
    "name": _read_env_name,
    "file": _read_secret_file,
}
_WEBHOOK_FIELDS: dict[str, Reader] = {
    "url": _read_webhook_url,
    "url_file": _read_secret_file,
    "timeout": _read_duration,
    "retries": _int_reader(minimum=0),
}
_EMAIL_FIELDS: dict[str, Reader] = {
    "host": _read_str,
    "port": _read_port,
    "starttls": _read_bool,
    "tls": _read_bool,
    "username_env": _read_env_name,
    "password_env": _read_env_name,
    "username_file": _read_secret_file,
    "password_file": _read_secret_file,
    "from": _read_address,
    "to": _read_addresses,
    "timeout": _read_duration,
}
_NOTIFY_RATE_FIELDS: dict[str, Reader] = {
    "window": _read_duration,
    "max_per_hour": _int_reader(minimum=1),
}
_NOTIFY_FIELDS: dict[str, Reader] = {
    "on": _read_kinds,
    "webhook": _read_webhook,
    "email": _read_email,
    "rate": _read_notify_rate,
}
_REPO_FIELDS.update(
    pull=_choice_reader(PULL_MODES),
    follow_tag=_read_tag_pattern,
    pipeline=_read_pipeline,
)
_TOP_FIELDS["notify"] = _read_notify


# -- hand-off and run anywhere: `handoff`, `commands`, `run_concurrency` --------------------------


def _read_handoff(node: Node, ctx: _Context) -> tuple[str, ...]:
    # `handoff:` left empty means the default tools; `handoff: []` means none (the shell).
    if _is_null(node):
        return DEFAULT_HANDOFF
    if not isinstance(node, SequenceNode):
        raise _BadValueError(node, f"expected a list of program names, got {_describe(node)}")
    return tuple(_read_str(item, ctx) for item in node.value)


def _read_commands(node: Node, ctx: _Context) -> tuple[SavedCommand, ...]:
    commands: list[SavedCommand] = []
    first_line: dict[str, int] = {}
    for item in _items(node):
        values = _read_fields(item, _COMMAND_FIELDS, ctx, "a commands entry", ("name", "run"))
        if "name" not in values or "run" not in values:
            continue
        name = values["name"]
        if name in first_line:
            where = _pairs(item, ctx)["name"][1] if isinstance(item, MappingNode) else item
            ctx.error(where, f"duplicate command name '{_quote(name)}' (first on line "
                             f"{first_line[name]})")  # fmt: skip
            continue
        first_line[name] = item.start_mark.line + 1
        commands.append(SavedCommand(**values))
    return tuple(commands)


_COMMAND_FIELDS: dict[str, Reader] = {
    "name": _read_str,
    "run": lambda node, ctx: _scalar(node, "a shell command line"),
}
_TOP_FIELDS.update(
    handoff=_read_handoff,
    commands=_read_commands,
    run_concurrency=_int_reader(minimum=1, maximum=64),
)
