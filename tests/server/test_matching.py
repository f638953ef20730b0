"""Pure parts of the webhook path: URL normalisation, ref matching, signatures, limits."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from gitwatch_tui.core.config import RateLimit
from gitwatch_tui.core.models import RepoSpec, RepoStatus
from gitwatch_tui.server.matching import _follows, branch_of_ref, normalize_url
from gitwatch_tui.server.webhooks import (
    MalformedPayloadError,
    RateLimiter,
    RecentIds,
    parse_generic,
    parse_github,
    parse_gitlab,
    verify_generic,
    verify_gitea,
    verify_github,
    verify_gitlab,
)

SAME_REPO = [
    "https://github.com/Owner/Repo.git",
    "https://github.com/owner/repo",
    "https://github.com/owner/repo/",
    "https://user:token@GitHub.com/owner/repo.git",
    "http://github.com:80/owner/repo.git",
    "git@github.com:owner/repo.git",
    "git@github.com:/owner/repo.git",
    "github.com:owner/repo",
    "ssh://git@github.com/owner/repo.git",
    "ssh://git@github.com:22/owner/repo",
    "git+ssh://git@github.com/owner/repo.git",
    "git://github.com/owner/repo.git",
    "  https://github.com/owner/repo.git\n",
]


@pytest.mark.parametrize("url", SAME_REPO)
def test_every_form_of_one_repo_normalises_alike(url: str) -> None:
    assert normalize_url(url) == "github.com/owner/repo"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ssh://git@gitlab.example:2222/group/sub/project.git", "gitlab.example/group/sub/project"),
        ("https://gitlab.example/group/sub/project", "gitlab.example/group/sub/project"),
        ("https://[::1]:8443/o/r.git", "::1/o/r"),
        ("git@[::1]:o/r.git", "::1/o/r"),
        ("/srv/git/Repo.git", "/srv/git/Repo"),  # local paths keep their case
        ("/srv/git/repo/.git", "/srv/git/repo"),
        ("file:///srv/git/Repo.git", "/srv/git/Repo"),
        ("file://localhost/srv/git/repo.git/", "/srv/git/repo"),
        ("ssh://host/~user/repo.git", "host/~user/repo"),
    ],
)
def test_normalise(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    ["", "   ", "not a url", "ftp://host/x.git", "https://host/", "https:///x.git", "rel/path",
     "./x:y", "git@host:", "ext::sh -c x", "https://host:bad/x"],
)  # fmt: skip
def test_not_git_urls_give_none(url: str) -> None:
    assert normalize_url(url) is None


def test_different_repos_stay_different() -> None:
    keys = {
        normalize_url(u)
        for u in (
            "https://github.com/owner/repo",
            "https://github.com/owner/repo2",
            "https://github.com/other/repo",
            "https://gitlab.com/owner/repo",
            "https://github.com/owner/group/repo",
        )
    }
    assert len(keys) == 5


def test_branch_of_ref() -> None:
    assert branch_of_ref("refs/heads/main") == "main"
    assert branch_of_ref("refs/heads/feature/x") == "feature/x"
    assert branch_of_ref("main") == "main"
    assert branch_of_ref("refs/tags/v1") is None
    assert branch_of_ref("refs/pull/1/head") is None


def _status(branch: str | None, upstream: str | None, detached: bool = False) -> RepoStatus:
    return RepoStatus(name="r", path="/r", branch=branch, upstream=upstream, detached=detached)


SPEC = RepoSpec(path=Path("/r"), name="r", branches=("release/*",))
REMOTES = ("origin", "team/upstream")


@pytest.mark.parametrize(
    ("ref", "status", "expected"),
    [
        ("refs/heads/main", _status("main", "origin/main"), True),
        ("refs/heads/dev", _status("main", "origin/main"), False),
        ("refs/heads/main", _status("work", "origin/main"), True),  # the upstream's branch
        ("refs/heads/feature/x", _status("x", "origin/feature/x"), True),
        ("refs/heads/main", _status("x", "team/upstream/main"), True),  # remote with a slash
        ("refs/heads/release/2", _status("main", "origin/main"), True),  # `branches` glob
        ("refs/heads/dev", _status(None, None, detached=True), True),  # unknown: fetch
        ("refs/heads/dev", None, True),  # not read yet
        ("refs/tags/v1.2", _status("main", "origin/main"), True),
        (None, _status("main", "origin/main"), True),
        ("refs/pull/7/head", _status("main", "origin/main"), False),
    ],
)
def test_which_refs_a_repo_follows(
    ref: str | None, status: RepoStatus | None, expected: bool
) -> None:
    assert _follows(ref, SPEC, status, REMOTES) is expected


# -- signatures ---------------------------------------------------------------------------------

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# The example from GitHub's documentation on validating webhook deliveries.
GITHUB_EXAMPLE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_github_signature_matches_githubs_documented_example() -> None:
    assert verify_github(SECRET, BODY, {"X-Hub-Signature-256": GITHUB_EXAMPLE})
    assert verify_github(SECRET, BODY, {"X-Hub-Signature-256": GITHUB_EXAMPLE.upper()[:7].lower()
                                        + GITHUB_EXAMPLE[7:].upper()})  # fmt: skip
    for bad in ("", "sha256=", GITHUB_EXAMPLE[:-1] + "0", GITHUB_EXAMPLE[7:], "sha1=abc", "é"):
        assert not verify_github(SECRET, BODY, {"X-Hub-Signature-256": bad})
    assert not verify_github(SECRET, BODY + b" ", {"X-Hub-Signature-256": GITHUB_EXAMPLE})
    assert not verify_github(b"other", BODY, {"X-Hub-Signature-256": GITHUB_EXAMPLE})
    assert not verify_github(SECRET, BODY, {})


def test_gitea_gitlab_and_generic_checks() -> None:
    digest = hmac.new(SECRET, BODY, hashlib.sha256).hexdigest()
    assert verify_gitea(SECRET, BODY, {"X-Gitea-Signature": digest})
    assert not verify_gitea(SECRET, BODY, {"X-Gitea-Signature": "sha256=" + digest})
    assert not verify_gitea(SECRET, BODY, {})
    assert verify_gitlab(SECRET, BODY, {"X-Gitlab-Token": SECRET.decode()})
    assert not verify_gitlab(SECRET, BODY, {"X-Gitlab-Token": SECRET.decode() + "x"})
    assert not verify_gitlab(SECRET, BODY, {"X-Gitlab-Token": ""})
    assert not verify_gitlab(SECRET, BODY, {})
    assert verify_generic(SECRET, BODY, {"X-Gitwatch-Signature-256": "sha256=" + digest})
    assert verify_generic(SECRET, BODY, {"X-Gitwatch-Token": SECRET.decode()})
    assert not verify_generic(SECRET, BODY, {"X-Gitwatch-Token": "nope"})
    # A bad signature is not rescued by a good token: the signature is what counts.
    headers = {"X-Gitwatch-Signature-256": "sha256=00", "X-Gitwatch-Token": SECRET.decode()}
    assert not verify_generic(SECRET, BODY, headers)
    assert not verify_generic(SECRET, BODY, {})


# -- payloads -----------------------------------------------------------------------------------


def test_payload_parsers() -> None:
    github = parse_github(
        {"ref": "refs/heads/main",
         "repository": {"clone_url": "https://h/o/r.git", "ssh_url": "git@h:o/r.git",
                        "html_url": "https://h/o/r", "git_url": None, "name": "r"}}
    )  # fmt: skip
    assert github.ref == "refs/heads/main"
    assert github.urls == ("https://h/o/r.git", "git@h:o/r.git", "https://h/o/r")
    gitlab = parse_gitlab(
        {"ref": "refs/tags/v1", "project": {"git_http_url": "https://h/g/p.git",
                                            "git_ssh_url": "git@h:g/p.git"},
         "repository": {"git_http_url": "https://h/g/p.git"}}
    )  # fmt: skip
    assert gitlab.urls == ("https://h/g/p.git", "git@h:g/p.git") and gitlab.ref == "refs/tags/v1"
    assert parse_generic({"repository": "git@h:o/r.git"}).ref is None
    assert parse_generic({"repository": ["a", "b"], "ref": "main"}).urls == ("a", "b")


@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (parse_github, {}),
        (parse_github, {"ref": "refs/heads/main", "repository": "https://h/o/r"}),
        (parse_github, {"ref": "refs/heads/main", "repository": {"clone_url": 5}}),
        (parse_github, {"repository": {"clone_url": "https://h/o/r"}}),
        (parse_github, {"ref": 3, "repository": {"clone_url": "https://h/o/r"}}),
        (parse_gitlab, {"ref": "refs/heads/main", "project": {}}),
        (parse_generic, {"repository": []}),
        (parse_generic, {"repository": [1]}),
        (parse_generic, {"repository": "https://h/o/r", "ref": ["x"]}),
    ],
)
def test_malformed_payloads(parse: object, payload: dict[str, object]) -> None:
    with pytest.raises(MalformedPayloadError):
        parse(payload)  # type: ignore[operator]


# -- limits -------------------------------------------------------------------------------------


def test_token_bucket_per_client() -> None:
    now = [100.0]
    limiter = RateLimiter(RateLimit(requests=3, per=1.0), max_clients=2, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.retry_after("a") == 1
    assert limiter.allow("b")  # another client has its own bucket
    now[0] += 0.34  # a third of a second refills one token
    assert limiter.allow("a") and not limiter.allow("a")
    now[0] += 10  # refills up to the burst size, no further
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    limiter.allow("c")  # the table holds two clients: "b", the least recently seen, goes
    assert set(limiter._buckets) == {"a", "c"}


def test_recent_ids_are_bounded() -> None:
    recent = RecentIds(size=2)
    assert recent.add("github", "1") and recent.add("github", "2")
    assert not recent.add("github", "1")
    assert recent.add("gitea", "1")  # per provider
    assert recent.add("github", "1")  # forgotten: only the last two are kept
