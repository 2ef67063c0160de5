"""The world every workflow installs from: local servers, a model wheel, isolated environments.

The servers are the tests' own (``tests/servers.py``); the benchmark only adds ``HEAD`` (uv asks
with it before a download, as GitHub answers it) and the caching headers GitHub's release blobs
carry, behind a redirect to a freshly signed URL each time, so that pip's and uv's HTTP caches
behave as they do against the real host.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # tests.servers is reused, not copied

from tests.builders import build_wheel  # noqa: E402
from tests.servers import Handler, Request, Response, Server  # noqa: E402

PYTHON = sys.executable  # runs pipmodels, pip-compile and pip-sync, as a user's tool venv would
UV = shutil.which("uv", path=str(Path(PYTHON).parent)) or shutil.which("uv")
MODEL, MODEL_VERSION = "en_core_web_bench", "3.8.0"
DEPENDENCY, DEPENDENCY_VERSION = "tinyspacy", "3.8.2"
CHUNK = 1 << 16  # the test server sleeps once per 64 kB chunk
COMMAND_TIMEOUT = 1800
REQS = "requirements.in"
REQUIREMENT = f"{DEPENDENCY}>=3.8,<3.9"  # the ordinary dependency, as a project asks for it


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A command failed; the message carries the command and the tail of its output."""


@dataclass
class HostLog:
    """When the model host answered each request, on the ``time.perf_counter`` clock."""

    requests: list[tuple[float, str]] = field(default_factory=list)

    def timed(self, path: str, handler: Handler) -> Handler:
        def logged(request: Request) -> Response:
            self.requests.append((time.perf_counter(), path))
            return handler(request)

        return logged


@dataclass
class World:
    """The servers and the model wheel every workflow of one model size installs from."""

    tmp: Path
    models: Server  # the GitHub-like release host: only the big model lives here
    index: Server  # a PEP 503 index with the ordinary dependency
    index_url: str
    wheel: Path
    model_url: str
    log: HostLog
    bandwidth: float

    @property
    def model_requests(self) -> int:
        return sum(self.models.requests.values())

    @property
    def model_bytes(self) -> int:
        return self.models.bytes_of(self.wheel.name)

    @property
    def size_mb(self) -> float:
        return self.wheel.stat().st_size / 1e6

    def reset_counts(self) -> None:
        self.models.reset_counts()
        self.index.reset_counts()
        self.log.requests.clear()

    def close(self) -> None:
        self.models.close()
        self.index.close()


def allow_head(server: Server) -> None:
    """Answer HEAD as GitHub does: uv asks with HEAD before it downloads a URL requirement."""

    def do_head(handler: BaseHTTPRequestHandler) -> None:
        path = unquote(urlsplit(handler.path).path)
        server.requests[path] += 1
        route = server.routes.get(path)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        response = route(Request(path, "", headers)) if route else Response(404, b"not found")
        handler.send_response(response.status)
        for key, value in response.headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(response.body)))
        handler.end_headers()

    handler_class = server.httpd.RequestHandlerClass
    handler_class.do_HEAD = do_head  # type: ignore[attr-defined]


def throttle_for(mb_per_second: float) -> float:
    return CHUNK / (mb_per_second * 1e6) if mb_per_second > 0 else 0.0


def github_caching(handler: Handler, etag: str) -> Handler:
    """The caching headers of a GitHub release blob: with them pip's HTTP cache stores the
    response (pip 23.2 by serialising it whole in memory), as it does against the real host."""

    def cached(request: Request) -> Response:
        response = handler(request)
        if response.status == 200:
            response.headers.update(
                {
                    "ETag": f'"{etag}"',
                    "Last-Modified": "Tue, 03 Sep 2024 10:00:00 GMT",
                    "Cache-Control": "max-age=300",
                    "Accept-Ranges": "bytes",  # as GitHub's storage says: uv then asks ranges
                }
            )
        return response

    return cached


def signed_redirect(handler: Handler) -> Handler:
    """GitHub redirects each request to a freshly signed blob URL (its query changes every
    time), so an HTTP cache keyed on the URL never answers a second download from its copy."""
    count = itertools.count()

    def redirect(request: Request) -> Response:
        response = handler(request)
        location = response.headers.get("Location")
        if location is not None:
            response.headers["Location"] = f"{location}?sig={next(count)}"
        return response

    return redirect


def fast_wheel(dest: Path, name: str, version: str, size: int) -> Path:
    """The same wheel as ``tests.builders.build_wheel`` makes, written in seconds at any size."""
    module, info = name.lower(), f"{name}-{version}.dist-info"
    pattern = bytes(i % 251 for i in range(251 * 4096))
    payload = (pattern * (size // len(pattern) + 1))[:size]
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\nMARKER = ''\n".encode(),
        f"{module}/model.bin": payload,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [f"{p},sha256={_record_hash(d)},{len(d)}" for p, d in files.items()]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    path = dest / f"{name}-{version}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for member, data in files.items():
            archive.writestr(member, data)
    return path


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_world(tmp: Path, size_mb: float, bandwidth: float) -> World:
    dist = tmp / "dist"
    index = Server()
    allow_head(index)
    index_url = index.add_index([build_wheel(dist / "index", DEPENDENCY, DEPENDENCY_VERSION)])
    say(f"Building a {size_mb:g} MB model wheel")
    wheel = fast_wheel(dist / f"model-{size_mb:g}", MODEL, MODEL_VERSION, int(size_mb * 1e6))
    models = Server()
    allow_head(models)
    models.throttle = throttle_for(bandwidth)
    url = models.add_release_asset("explosion/spacy-models", f"{MODEL}-{MODEL_VERSION}", wheel)
    log = HostLog()
    for path, route in list(models.routes.items()):
        if path.startswith("/blob/"):
            route = github_caching(route, path.rsplit("/", 1)[-1])
        else:
            route = signed_redirect(route)
        models.routes[path] = log.timed(path, route)
    return World(tmp, models, index, index_url, wheel, url, log, bandwidth)


def isolated_env(scratch: Path, index_url: str) -> dict[str, str]:
    """The machine's pip and uv configuration left out; caches fresh for every workflow.

    ``PIP_TRUSTED_HOST`` puts the local http host under pip's caching HTTP adapter, the one
    pip uses for every https host, so pip's HTTP cache works as it does against GitHub.
    """
    env = base_env()
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        PIP_INDEX_URL=index_url,
        PIP_TRUSTED_HOST="127.0.0.1",
        UV_INDEX_URL=index_url,
    )
    env.update(cache_env(scratch))
    return env


def base_env() -> dict[str, str]:
    """This process's environment without pip's, uv's and pipmodels' settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "PIPMODELS_", "VIRTUAL_ENV", "CONDA"))
    }
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_DEFAULT_TIMEOUT="30",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        NO_COLOR="1",
    )
    return env


def cache_env(folder: Path) -> dict[str, str]:
    return {
        "PIP_CACHE_DIR": str(folder / "pip-cache"),
        "UV_CACHE_DIR": str(folder / "uv-cache"),
        # pip-tools keeps its own dependency cache under the user cache folder
        "XDG_CACHE_HOME": str(folder / "xdg-cache"),
    }


def run(cmd: Sequence[str], *, env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        list(cmd),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.splitlines()[-20:])
        raise BenchError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return proc.stdout


def make_venv(path: Path, env: dict[str, str]) -> str:
    run([PYTHON, "-m", "venv", str(path)], env=env, cwd=path.parent)
    return str(path / "bin" / "python")


def folder_size(path: Path) -> int:
    """Bytes of the files under ``path`` (0 when it does not exist)."""
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


@contextmanager
def scratch(parent: Path, name: str, keep: bool) -> Iterator[Path]:
    path = parent / name
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def new_scratch_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="pipmodels-bench-"))
