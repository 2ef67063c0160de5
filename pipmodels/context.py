"""What every step of one run shares: the child environment, the redactor, and the one door
through which commands run.

The environment given to pip, pip-tools and uv is the user's own, plus ``.env`` values, with two
changes: every index and find-links URL pip would read from ``PIP_*`` variables or pip.conf
loses its user-info, and ``NETRC`` points at a private file in this run's folder that carries
those credentials (and the user's own netrc entries). Built on first use, so that a no-op run
writes nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipmodels import console, pipconfig, runner, statedir
from pipmodels.credentials import (
    Credential,
    Redactor,
    check_one_per_host,
    netrc_text,
    split_userinfo,
    user_netrc,
)
from pipmodels.errors import PipmodelsError
from pipmodels.runner import Result


@dataclass
class Context:
    base_environ: dict[str, str]  # the user's environment plus .env values
    redactor: Redactor
    credentials: list[Credential] = field(default_factory=list)
    overrides: dict[str, str] = field(default_factory=dict)  # PIP_* settings without user-info
    _environ: dict[str, str] | None = None
    _run_dir: Path | None = None

    @classmethod
    def create(
        cls, base_environ: dict[str, str], redactor: Redactor, credentials: Sequence[Credential]
    ) -> Context:
        """A context whose children get ``credentials`` (from the inputs) and those of the
        user's pip configuration, through netrc."""
        overrides, from_config = _stripped_pip_settings(base_environ)
        ctx = cls(
            base_environ,
            redactor,
            check_one_per_host([*credentials, *from_config]),
            overrides,
        )
        for cred in ctx.credentials:
            redactor.add_credential(cred)
        return ctx

    @property
    def verbose(self) -> bool:
        return console.is_verbose()

    @property
    def run_dir(self) -> Path:
        """This run's private folder, removed by :meth:`close` (or swept by a later run)."""
        if self._run_dir is None:
            home = statedir.state_home(self.base_environ)
            try:
                self._run_dir = statedir.new_run_dir(home)
            except OSError as exc:
                raise PipmodelsError(
                    f"Cannot create a private folder under {home}: {exc.strerror}.",
                    f"Make it writable, or set {statedir.STATE_DIR_VARIABLE} to another folder.",
                ) from None
        return self._run_dir

    @property
    def environ(self) -> dict[str, str]:
        """The environment for every child process and for pipmodels' own downloads."""
        if self._environ is None:
            # Children's temporary files go in this run's folder too: a later run sweeps what
            # a SIGKILL leaves there, where nothing would sweep the system's /tmp.
            scratch = self.run_dir / "tmp"
            scratch.mkdir(exist_ok=True)
            temp = {name: str(scratch) for name in ("TMPDIR", "TEMP", "TMP")}
            env = {**self.base_environ, **self.overrides, **temp}
            if self.credentials:
                netrc = self.run_dir / "netrc"
                text = netrc_text(self.credentials, user_netrc(self.base_environ))
                netrc.touch(mode=0o600)
                netrc.write_text(text, encoding="utf-8")
                env["NETRC"] = str(netrc)
            self._environ = env
        return self._environ

    def run(
        self,
        cmd: Sequence[str],
        *,
        what: str,
        hint: str = "",
        ok: Collection[int] = (0,),
        explain: Callable[[Result], PipmodelsError] | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Result:
        """Run ``cmd`` through the one door; ``env`` adds to this context's environment."""
        return runner.run(
            cmd,
            env={**self.environ, **(env or {})},
            redactor=self.redactor,
            cwd=cwd,
            what=what,
            hint=hint,
            ok=ok,
            explain=explain,
        )

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[Path]:
        """A temporary folder inside this run's private folder."""
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=self.run_dir))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
            self._environ = None


def _stripped_pip_settings(
    environ: Mapping[str, str],
) -> tuple[dict[str, str], list[Credential]]:
    """``PIP_*`` overrides that repeat the user's index settings without user-info, and the
    credentials they carried. Only settings that carried some are overridden."""
    overrides: dict[str, str] = {}
    found: list[Credential] = []
    for key, urls in pipconfig.url_settings(environ).items():
        pairs = [split_userinfo(url) for url in urls]
        creds = [cred for _, cred in pairs if cred is not None]
        if creds:
            overrides[pipconfig.variable(key)] = " ".join(url for url, _ in pairs)
            found += creds
    return overrides, found
