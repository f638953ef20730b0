"""Test-wide set-up: git runs isolated from the user's own config, with a fixed identity."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web


def _isolate_git(config_dir: Path) -> None:
    config = config_dir / "gitconfig"
    config.write_text(
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
        "[advice]\n\tdetachedHead = false\n"
    )
    os.environ.update(
        GIT_CONFIG_GLOBAL=str(config),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Test Author",
        GIT_AUTHOR_EMAIL="author@example.invalid",
        GIT_COMMITTER_NAME="Test Author",
        GIT_COMMITTER_EMAIL="author@example.invalid",
    )
    for var in ("GIT_DIR", "GIT_WORK_TREE", "NO_COLOR"):
        os.environ.pop(var, None)


@pytest.fixture(scope="session", autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory) -> None:
    _isolate_git(tmp_path_factory.mktemp("gitconfig"))


def git(cwd: Path | str, *args: str) -> str:
    """Run real git in `cwd` for test set-up; fails the test on error."""
    result = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout.strip()


def commit_file(repo: Path, name: str, content: str, message: str | None = None) -> str:
    """Write a file, commit it, and return the new HEAD."""
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    git(repo, "add", "--", name)
    git(repo, "commit", "-q", "-m", message or f"change {name}")
    return git(repo, "rev-parse", "HEAD")


def make_remote_and_clone(base: Path, name: str) -> tuple[Path, Path]:
    """A bare remote with one commit and a clone of it tracking origin/main."""
    seed = base / f"{name}-seed"
    seed.mkdir(parents=True)
    git(seed, "init", "-q")
    commit_file(seed, "README.md", "hello\n", "initial")
    remote = base / f"{name}.git"
    git(base, "clone", "-q", "--bare", str(seed), str(remote))
    clone = base / name
    git(base, "clone", "-q", str(remote), str(clone))
    return remote, clone


def push_from_elsewhere(remote: Path, base: Path, count: int = 1, name: str = "other") -> None:
    """Another developer pushes `count` commits to `remote`'s main."""
    other = base / f"{remote.stem}-{name}"
    if not other.exists():
        git(base, "clone", "-q", str(remote), str(other))
    git(other, "pull", "-q", "--ff-only")
    for i in range(count):
        commit_file(other, f"upstream-{name}-{i}.txt", f"{i}\n")
    git(other, "push", "-q", "origin", "HEAD:main")


def process_ends(pid: int, within: float = 5.0) -> bool:
    """True once `pid` has exited (a zombie awaiting its reaper counts as ended)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


class QuietHTTPServer(http.server.ThreadingHTTPServer):
    """A client that gives up mid-answer (a fetch ended by its timeout) is what the tests
    make: its broken connection is not printed over the test output; any other error is."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture()
def unauthorized_server() -> Iterator[str]:
    """An HTTP server that answers every request with 401, as a private repo does."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/private.git"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never answers: a hung remote."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/hung.git"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@dataclass
class GitHttpServer:
    """Smart HTTP git (`git http-backend`) for every bare repo under `root`, on one
    127.0.0.1 port; a repo listed in `answers` gets that HTTP status instead (401, 403, 500)."""

    url: str
    root: Path
    answers: dict[str, int] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0  # seconds each request is held before it is served (a slow server)
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests served at one time
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture()
def git_http(tmp_path: Path) -> Iterator[GitHttpServer]:
    root = tmp_path / "http-root"
    root.mkdir()
    state = GitHttpServer(url="", root=root)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve()

        def do_POST(self) -> None:  # noqa: N802
            self._serve()

        def _serve(self) -> None:
            with state.lock:
                state.in_flight += 1
                state.most_in_flight = max(state.most_in_flight, state.in_flight)
            self.counted = True
            try:
                time.sleep(state.delay)
                self._answer()
            finally:
                self._uncount()

        def send_response(self, code: int, message: str | None = None) -> None:
            self._uncount()  # before the client has its answer: a request ends within its own
            super().send_response(code, message)

        def _uncount(self) -> None:
            if getattr(self, "counted", False):
                self.counted = False
                with state.lock:
                    state.in_flight -= 1

        def _answer(self) -> None:
            path, _, query = self.path.partition("?")
            repo = path.strip("/").split("/", 1)[0]
            state.requests.append(repo)
            status = state.answers.get(repo)
            if status is not None:
                self.send_response(status)
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="private"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {
                **os.environ, "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": "127.0.0.1",
                "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }  # fmt: skip
            out = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            ).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
            code = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(code)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def git_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A real `git daemon` on 127.0.0.1 serving every bare repo under the returned folder."""
    base = tmp_path_factory.mktemp("daemon")
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
         "--listen=127.0.0.1", f"--port={port}", str(base)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                raise
            time.sleep(0.05)
    yield f"git://127.0.0.1:{port}", base
    proc.terminate()
    proc.wait(timeout=10)


RECEIVER_TOKEN = "T0KEN-in-path"  # in the receiver's URL, as in a Slack URL: never in a log


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers each request with the next status in
    `statuses` (then 200), keeping every JSON body."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture()
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()

    async def hook(request: web.Request) -> web.Response:
        state.bodies.append(await request.json())
        return web.Response(status=state.statuses.pop(0) if state.statuses else 200, text="ok")

    app = web.Application()
    app.router.add_post(f"/hooks/{RECEIVER_TOKEN}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hooks/{RECEIVER_TOKEN}"
    yield state
    await runner.cleanup()
