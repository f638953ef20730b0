"""What the daemon does so that the programs it starts cannot read its secrets.

A pipeline step (or git, a hook, a credential helper) runs as the daemon's user unless told
otherwise, and a process of the same user may read another's `/proc/<pid>/environ` and memory.
So the daemon makes itself non-dumpable (the kernel then refuses those reads to anyone without
CAP_SYS_PTRACE: root still can), and takes the variables its config names as secrets out of
the environment its children inherit, keeping its own copy to read them from.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import MutableMapping

from gitwatch_tui.core.config import Config

PR_SET_DUMPABLE = 4


def make_undumpable() -> bool:
    """No core dumps, and no reading of our memory or environment by processes of our user;
    False where the system cannot (not Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def secret_variables(config: Config) -> set[str]:
    """The environment variables the config names as secrets: webhook secrets, the SMTP login,
    the secrets of every pipeline step (those read from files are not in the environment)."""
    sources = [source for _, source in config.server.secret_sources()]
    if config.notify.email is not None:
        sources += [source for source in config.notify.email.login_sources() if source]
    for spec in config.repos:
        for step in spec.pipeline:
            sources += [source for _, source in step.secret_sources()]
    return {source.env for source in sources if source.env is not None}


def withhold(names: set[str], environ: MutableMapping[str, str] = os.environ) -> None:
    """Take these variables out of the environment children inherit (git and its helpers,
    hooks, the steps' supervisors); whoever needs one reads the copy made before."""
    for name in names:
        environ.pop(name, None)
