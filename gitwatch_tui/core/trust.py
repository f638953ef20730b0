"""What runs in the background: no program that a repo's own config names.

A repo's own config (`.git/config`, `config.worktree` and the files they include) can name
programs that git runs: hooks, clean/smudge/process filters, a credential helper, an ssh command,
an upload-pack, a merge driver, a gpg program. On a shared server someone else can write that
file, and a background daemon (often root) must not run their programs. So, for a repo that is
not trusted, every git call gets config in the command scope, which git reads last and which
therefore wins: each such key the repo sets is given the user's own global or system value, or
a value that runs nothing. Hooks always point at the user's global `core.hooksPath`, or at
`/dev/null`, under which no hook can ever exist.

The config goes in the environment (`GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_<n>`) rather than as
`-c key=value`, which git splits at the first `=`: a filter named `a=b` would slip through.

Reading the repo's config costs a git call, so it is read only when its files mention one of
the keys at all (a key's name cannot be spelt any other way in the file), and kept while the
files are unchanged; a repo whose config includes other files is read every time.
"""

from __future__ import annotations

import functools
import os
import re
import shlex
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

LOCAL_SCOPES = frozenset({"local", "worktree"})
USER_SCOPES = frozenset({"system", "global"})
NO_HOOKS = os.devnull  # `/dev/null/<hook>` can never exist: no hook runs
# The most config pairs a guard may hold; a repo that needs more is refused, not run
# (thousands of filters would only be there to overflow the environment).
MAX_PAIRS = 256

# Words that every key naming a program contains (lower case; git spells section and key
# names in ASCII, case-insensitively, with no escapes): without them in the repo's config
# files, the repo's config names no program.
_TRIGGERS = (
    b"hookspath", b"fsmonitor", b"command", b"gitproxy", b"helper", b"clean", b"smudge",
    b"process", b"driver", b"external", b"textconv", b"uploadpack", b"program", b"include",
    b"cookie",
)  # fmt: skip
_MAX_SCANNED = 1 << 20  # a config file larger than this is read by git rather than scanned
_CREDENTIAL_HELPER = re.compile(r"credential\.(?:.+\.)?helper")
_FILTER = re.compile(r"filter\.(.+)\.(clean|smudge|process)")
_INCLUDE = re.compile(r"include\.path|includeif\..+\.path")
# Keys whose repo value is replaced by the user's, else by the value given here.
_NEUTRAL: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), value)
    for pattern, value in (
        (r"core\.fsmonitor", "false"),
        (r"core\.alternaterefscommand", "true"),  # prints no refs
        (r"merge\..+\.driver", "false"),  # a conflict, as when a driver fails
        (r"diff\.external|diff\..+\.command", ""),  # background work makes no patches
        (r"diff\..+\.textconv", "cat"),
        (r"gpg\.program|gpg\.openpgp\.program", "gpg"),
        (r"gpg\.x509\.program", "gpgsm"),
        (r"gpg\.ssh\.program", "ssh-keygen"),
        (r"gpg\..+\.program|gpg\.ssh\.defaultkeycommand", ""),
        # Not a program, but a file a root daemon would write anywhere the repo says.
        (r"http\.(?:.+\.)?cookiefile", ""),
        (r"http\.(?:.+\.)?savecookies", "false"),
    )
)


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One line of `git config --list --show-scope`: key as git prints it (section and name
    in lower case), value None for a key written without `=`."""

    scope: str
    key: str
    value: str | None


@dataclass(frozen=True, slots=True)
class Guard:
    """What a git call in an untrusted repo gets: config pairs (command scope), environment
    variables set unless the caller has them, and whether a fetch must name the upload-pack
    (the first `remote.<name>.uploadpack` read wins, so no config can undo the repo's)."""

    config: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    upload_pack: bool = False

    def environ(self) -> dict[str, str]:
        """The config as `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_<n>`/`GIT_CONFIG_VALUE_<n>`."""
        env = {"GIT_CONFIG_COUNT": str(len(self.config))}
        for n, (key, value) in enumerate(self.config):
            env[f"GIT_CONFIG_KEY_{n}"] = key
            env[f"GIT_CONFIG_VALUE_{n}"] = value
        return env


def parse_listing(data: bytes, *, origins: bool = False) -> list[ConfigEntry]:
    """Entries of `git config --list --show-scope -z` (with `origins`, also `--show-origin`,
    whose field is dropped)."""
    fields = data.decode("utf-8", errors="surrogateescape").split("\0")
    width = 3 if origins else 2
    entries = []
    for i in range(0, len(fields) - width + 1, width):
        scope, entry = fields[i], fields[i + width - 1]
        key, newline, value = entry.partition("\n")
        entries.append(ConfigEntry(scope, key, value if newline else None))
    return entries


def listing_origins(data: bytes) -> list[str]:
    """The files named by `git config --list --show-scope --show-origin -z`."""
    fields = data.decode("utf-8", errors="surrogateescape").split("\0")
    return [origin[len("file:") :] for origin in fields[1::3] if origin.startswith("file:")]


def names_programs(config_text: bytes) -> bool:
    """Could this config file name a program (or include a file that does)? False is sure."""
    # Substring tests on the lowered text: a case-blind regex of these words took 70 µs a
    # file, and every repo's config is scanned in a first status sweep.
    lowered = config_text.lower()
    return any(word in lowered for word in _TRIGGERS)


def guard_from(
    user: Sequence[ConfigEntry], local: Sequence[ConfigEntry], *, git_ssh: str | None = None
) -> Guard:
    """The guard for a repo whose own config has `local` entries, for a user whose global and
    system config has `user` entries; `git_ssh` is the user's `$GIT_SSH`, if set."""
    users = [e for e in user if e.scope in USER_SCOPES]
    owns = [e for e in local if e.scope in LOCAL_SCOPES]
    last = {e.key: e.value or "" for e in users}
    own_keys = {e.key for e in owns}
    config: list[tuple[str, str]] = [
        ("core.hookspath", _own_hooks(last.get("core.hookspath", ""))),
        # A submodule has a config of its own that nobody read: never recurse into one.
        ("submodule.recurse", "false"),
    ]
    if any(_CREDENTIAL_HELPER.fullmatch(key) for key in own_keys):
        # An empty helper empties the list; then the user's own helpers again, in order.
        config.append(("credential.helper", ""))
        config += [(e.key, e.value or "") for e in users if _CREDENTIAL_HELPER.fullmatch(e.key)]
    if "core.sshcommand" in own_keys:
        # $GIT_SSH_COMMAND, which we always set, beats it; `$GIT_SSH` does not.
        fallback = shlex.quote(git_ssh) if git_ssh else "ssh"
        config.append(("core.sshcommand", last.get("core.sshcommand", fallback)))
    config += _filters(own_keys, last)
    for key in sorted(own_keys):
        for pattern, neutral in _NEUTRAL:
            if pattern.fullmatch(key):
                config.append((key, last.get(key, neutral)))
                break
    # `core.gitProxy`: the first match wins, so only an empty $GIT_PROXY_COMMAND (which
    # turns the key off) undoes the repo's; the user's own proxy is then not used either.
    env = (("GIT_PROXY_COMMAND", ""),) if "core.gitproxy" in own_keys else ()
    upload_pack = any(re.fullmatch(r"remote\..+\.uploadpack", key) for key in own_keys)
    return Guard(tuple(config), env, upload_pack)


def _own_hooks(path: str) -> str:
    """The user's global hooks folder if it is one: a relative `core.hooksPath` (`.githooks`)
    is a folder inside each repo, whose hooks the repo's own files would be."""
    return path if path.startswith(("/", "~")) else NO_HOOKS


def _filters(own_keys: Iterable[str], last: dict[str, str]) -> list[tuple[str, str]]:
    """Each filter the repo defines a program for: the user's programs, else none (an empty
    command is skipped by git), and not `required`, so that a skipped filter fails nothing."""
    names = sorted({m[1] for key in own_keys if (m := _FILTER.fullmatch(key))})
    config: list[tuple[str, str]] = []
    for name in names:
        blanked = False
        for kind in ("clean", "smudge", "process"):
            key = f"filter.{name}.{kind}"
            if key in last:
                config.append((key, last[key]))
            elif key in own_keys:
                config.append((key, ""))
                blanked = True
        required = f"filter.{name}.required"
        config.append((required, "false" if blanked else last.get(required, "false")))
    return config


def includes(entries: Iterable[ConfigEntry]) -> bool:
    """Does the repo's own config include other files (which may change on their own, or
    apply on one branch only)?"""
    return any(e.scope in LOCAL_SCOPES and _INCLUDE.fullmatch(e.key) for e in entries)


# -- caches -----------------------------------------------------------------------------------

FileId = tuple[int, int, int] | None
ReadConfig = Callable[[Path | None, float], bytes | str]


def file_id(path: Path | str) -> FileId:
    """A file's identity while unchanged (inode, mtime, size), None when it is missing."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def local_config_files(git_dir: Path | str) -> tuple[str, ...]:
    """The repo's own config files: the (common) `config`, and `config.worktree` of this
    work tree and of the main one (read whether or not worktreeConfig is on). Plain strings
    and `os.path`: this runs once per repo per status sweep."""
    git_dir = os.fspath(git_dir)
    common = git_dir
    try:
        with open(os.path.join(git_dir, "commondir"), encoding="utf-8") as pointer:
            common = os.path.join(git_dir, pointer.read().strip())
    except OSError:
        pass
    files = [os.path.join(common, "config"), os.path.join(git_dir, "config.worktree")]
    if common != git_dir:
        files.append(os.path.join(common, "config.worktree"))
    return tuple(files)


class GuardCache:
    """Guards of untrusted repos, each kept while the repo's and the user's config files are
    unchanged. `read(git_dir, timeout)` runs `git config --list --show-scope -z` in a git dir
    (None: outside any repo, with `--show-origin` too) and gives its output or git's error."""

    def __init__(self, read: ReadConfig) -> None:
        self._read = read
        # (files the listing came from, the key it was read under, its entries)
        self._user: tuple[tuple[str, ...], tuple[object, ...], list[ConfigEntry]] | None = None
        # git dir -> (its config files' identities, the user's listing it was made with, guard)
        # (Keyed by the path's text: hashing a Path costs more than the rest of a lookup.)
        self._local: dict[str, tuple[tuple[FileId, ...], list[ConfigEntry], Guard]] = {}
        # The guard of a repo whose own config names no program: the same for every such
        # repo, so made once per user listing (and $GIT_SSH) rather than once per repo.
        self._plain: tuple[list[ConfigEntry], str | None, Guard] | None = None
        self._user_lock = threading.Lock()

    def guard(
        self, git_dir: Path, *, timeout: float, user: list[ConfigEntry] | str | None = None
    ) -> Guard | str:
        """The guard for one repo, or why it cannot be had (its config cannot be read).
        `user`: the user's entries as `user_entries` gave them for a batch of repos read as
        one call (looked up here when not given)."""
        if user is None:
            user = self.user_entries(timeout=timeout)
        if isinstance(user, str):
            return user
        where = os.fspath(git_dir)
        files = local_config_files(where)
        key = tuple(file_id(path) for path in files)
        cached = self._local.get(where)
        if cached is not None and cached[0] == key and cached[1] is user:
            return cached[2]
        if not any(_mentions_programs(p, ident) for p, ident in zip(files, key, strict=True)):
            guard, keep = self._plain_guard(user), True
        else:
            listing = self._read(git_dir, timeout)
            if isinstance(listing, str):
                return f"cannot read the repo's config to keep its programs out: {listing}"
            entries = parse_listing(listing)
            guard = guard_from(user, entries, git_ssh=os.environ.get("GIT_SSH"))
            keep = not includes(entries)
        if len(guard.config) > MAX_PAIRS:
            count = len(guard.config)
            return f"the repo's config names too many programs to keep from running ({count})"
        if keep:
            self._local[where] = (key, user, guard)
        return guard

    def _plain_guard(self, user: list[ConfigEntry]) -> Guard:
        git_ssh = os.environ.get("GIT_SSH")
        plain = self._plain
        if plain is None or plain[0] is not user or plain[1] != git_ssh:
            plain = (user, git_ssh, guard_from(user, (), git_ssh=git_ssh))
            self._plain = plain
        return plain[2]

    def user_entries(self, *, timeout: float) -> list[ConfigEntry] | str:
        """The user's global and system config, read again when one of its files changes."""
        fresh = self._fresh_user()
        if fresh is not None:
            return fresh
        # One reader: the status loops' threads all miss at once on the first sweep.
        with self._user_lock:
            fresh = self._fresh_user()
            return fresh if fresh is not None else self._read_user(timeout)

    def _fresh_user(self) -> list[ConfigEntry] | None:
        if self._user is not None:
            origins, key, entries = self._user
            if _user_key(origins) == key:
                return entries
        return None

    def _read_user(self, timeout: float) -> list[ConfigEntry] | str:
        listing = self._read(None, timeout)
        if isinstance(listing, str):
            return f"cannot read your git config: {listing}"
        # The files the listing came from are part of the key from now on.
        origins = tuple(sorted(set(listing_origins(listing))))
        entries = parse_listing(listing, origins=True)
        self._user = (origins, _user_key(origins), entries)
        return entries


_USER_ENV = ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "HOME")


def _user_key(origins: tuple[str, ...]) -> tuple[object, ...]:
    """What the user's listing depends on: the variables that choose its files, and the
    identity of each file. Checked before every guard, so the files' names are worked out
    once per set of variables."""
    env = os.environ
    names = (*(env.get(name) for name in _USER_ENV), env.get("XDG_CONFIG_HOME"))
    files = tuple(file_id(path) for path in (*_user_files(names), *origins))
    return (names[:4], names[4], files, origins)


@functools.lru_cache(maxsize=8)
def _user_files(names: tuple[str | None, ...]) -> tuple[str, ...]:
    """The global and system config files git would read under these variables (`_USER_ENV`,
    then XDG_CONFIG_HOME)."""
    global_file, system_file, _, home, xdg_home = names
    home = os.path.expanduser(home or "~")
    xdg = os.path.join(xdg_home or os.path.join(home, ".config"), "git", "config")
    return (
        global_file or os.path.join(home, ".gitconfig"),
        xdg,
        system_file or "/etc/gitconfig",
    )


def _mentions_programs(path: str, ident: FileId) -> bool:
    if ident is None:
        return False
    if ident[2] > _MAX_SCANNED:
        return True
    try:
        with open(path, "rb") as config:
            return names_programs(config.read())
    except OSError:
        return True  # cannot tell: let git read it
