"""What every step of one run shares: the child environment, the redactor, the gateway, and the
one door through which commands run.

The environment given to pip, pip-tools and uv is the user's own, plus ``.env`` values, with two
changes: every index and find-links URL pip would read from ``PIP_*`` variables or pip.conf
loses its user-info, and one whose origin has a key is routed through the run's gateway
(``gateway.py``), which holds the keys in memory. The gateway and the run's private folder are
made when a child first needs them, so that a no-op run starts nothing and writes nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipmodels import console, keystore, pipconfig, runner, statedir
from pipmodels.credentials import Credential, Redactor, one_per_origin
from pipmodels.errors import PipmodelsError
from pipmodels.locations import Location, pip_url_settings, uv_url_settings
from pipmodels.runner import Result

if TYPE_CHECKING:
    from pipmodels.gateway import Gateway
    from pipmodels.http import Client


@dataclass
class Context:
    base_environ: dict[str, str]  # the user's environment plus .env values
    redactor: Redactor
    credentials: list[Credential] = field(default_factory=list)  # at most one per origin
    settings: dict[str, list[Location]] = field(default_factory=dict)  # pip's URL settings
    # uv's own (UV_INDEX_URL, UV_INDEX, ...): each URL with what precedes it ("name=")
    uv_settings: dict[str, list[tuple[str, Location]]] = field(default_factory=dict)
    _environ: dict[str, str] | None = None
    _run_dir: Path | None = None
    _gateway: Gateway | None = None
    _keys: list[Credential] | None = None
    _keyring_services: dict[Credential, list[str]] = field(default_factory=dict)
    _key_variables: set[str] = field(default_factory=set)

    @classmethod
    def create(
        cls, base_environ: dict[str, str], redactor: Redactor, locations: Sequence[Location]
    ) -> Context:
        """A context whose children reach the origins of ``locations`` (from the inputs) and of
        the user's pip configuration with their keys, through the gateway."""
        settings = pip_url_settings(base_environ)
        uv = uv_url_settings(base_environ)
        every = [
            *locations,
            *(loc for urls in settings.values() for loc in urls),
            *(loc for urls in uv.values() for _, loc in urls),
        ]
        credentials = one_per_origin(loc.credential for loc in every if loc.credential)
        ctx = cls(base_environ, redactor, credentials, settings, uv)
        ctx._key_variables = {n for loc in every if loc.credential for n in loc.key_variables}
        for cred in credentials:
            redactor.add_credential(cred)
        for loc in every:
            if loc.keyring_login and loc.credential is not None:
                ctx._keyring_services.setdefault(loc.credential, []).append(loc.public)
        return ctx

    def keys(self) -> list[Credential]:
        """The run's keys, one per origin; where a URL gives a user name only and pip is told
        to ask a keyring, with the keyring's password. Asked once, when first needed."""
        if self._keys is None:
            self._keys = [
                self._from_keyring(c, self._keyring_services.get(c)) for c in self.credentials
            ]
        return self._keys

    def keyring_credential(self, location: Location) -> Credential | None:
        """``location``'s credential, its password from the keyring where it must be."""
        if location.credential is None or not location.keyring_login:
            return location.credential
        return self._from_keyring(location.credential, [location.public])

    def _from_keyring(self, cred: Credential, services: list[str] | None) -> Credential:
        chosen = keystore.provider(self.base_environ)
        if not services or chosen is None or cred.origin is None:
            return cred
        netloc = str(cred.origin).split("://", 1)[1]
        found = keystore.password(
            [*services, netloc], cred.login, chosen, self.base_environ, self._keyring_command
        )
        if found is None:
            return cred
        filled = Credential(cred.origin, cred.login, found)
        self.redactor.add_credential(filled)
        return filled

    def _keyring_command(self, cmd: list[str]) -> Result:
        # The user's own environment: the keyring needs no gateway, and its answer is a key.
        return runner.run(
            cmd,
            env=self.base_environ,
            redactor=self.redactor,
            what="keyring",
            ok=(0, 1),
            secret_output=True,
        )

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
    def gateway(self) -> Gateway | None:
        """The run's gateway, started on first use; None when no origin has a key."""
        if self._gateway is None and self.credentials:
            # Imported here: the no-op fast path loads this module and never needs a server.
            from pipmodels.gateway import Gateway, upstream_settings
            from pipmodels.http import Limits, Policy

            policy = Policy.from_environment(self.base_environ)
            transport = pipconfig.settings(self.base_environ, pipconfig.TRANSPORT_SETTINGS)
            self._gateway = Gateway(
                self.keys(),
                upstream_settings(
                    transport,
                    (policy.connect_timeout, policy.read_timeout),
                    stall_seconds=policy.stall_seconds,
                    min_rate=policy.min_rate,
                    limits=Limits.from_environment(self.base_environ),
                ),
            )
            self.redactor.aliases.update(self._gateway.aliases())
        return self._gateway

    def child_url(self, public: str) -> str:
        """``public`` (no user-info) as pip and uv must fetch it: through the gateway when its
        origin has a key."""
        gateway = self.gateway
        return gateway.child_url(public) if gateway is not None else public

    @property
    def environ(self) -> dict[str, str]:
        """The environment for every child process: no variable that holds a key (a build
        script of a public sdist must not read one), loopback never through a proxy."""
        if self._environ is None:
            # Children's temporary files go in this run's folder too: a later run sweeps what
            # a SIGKILL leaves there, where nothing would sweep the system's /tmp.
            scratch = self.run_dir / "tmp"
            scratch.mkdir(exist_ok=True)
            temp = {name: str(scratch) for name in ("TMPDIR", "TEMP", "TMP")}
            env = {**self.base_environ, **self.pip_overrides(), **temp}
            for name in self._key_variables:
                env.pop(name, None)
            if self.gateway is not None:
                env.update(_around_proxies(env, self.base_environ))
            self._environ = env
        return self._environ

    def child_settings(self) -> dict[str, list[str]]:
        """The user's pip index and find-links settings as children must read them: no
        user-info, keyed origins through the gateway."""
        return {
            key: [self.child_url(loc.public) for loc in locations]
            for key, locations in self.settings.items()
        }

    def pip_overrides(self) -> dict[str, str]:
        """``PIP_*`` (and uv's ``UV_*``) settings that repeat :meth:`child_settings`."""
        overrides = {
            pipconfig.variable(key): " ".join(urls) for key, urls in self.child_settings().items()
        }
        for variable, entries in self.uv_settings.items():
            urls = (name + self.child_url(loc.public) for name, loc in entries)
            overrides[variable] = " ".join(urls)
        return overrides

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
        secret_output: bool = False,
    ) -> Result:
        """Run ``cmd`` through the one door; ``env`` adds to this context's environment.
        A failure after the gateway cut a page short, or an origin refused its key, says so."""
        try:
            return runner.run(
                cmd,
                env={**self.environ, **(env or {})},
                redactor=self.redactor,
                cwd=cwd,
                what=what,
                hint=hint,
                ok=ok,
                explain=explain,
                secret_output=secret_output,
            )
        except PipmodelsError as error:
            raise self._gateway_explains(error, what, explained=explain is not None) from None

    def _gateway_explains(
        self, error: PipmodelsError, what: str, *, explained: bool
    ) -> PipmodelsError:
        """``error``, or what the gateway saw that says more: a page it cut short, or (where
        no ``explain`` of the caller's looked closer) an origin that refused its key."""
        gateway = self._gateway
        if gateway is None or not (gateway.problems or (gateway.refused and not explained)):
            return error
        if gateway.problems:
            origin, problem = next(iter(gateway.problems.items()))
            return PipmodelsError(
                f"{what} failed: {self.redactor(problem)}; pipmodels stopped reading it.",
                f"Check that {origin} serves an index or find-links page there, then run again.",
            )
        origin, status = next(iter(gateway.refused.items()))
        return PipmodelsError(
            f"{what} failed: {origin} refused the key pipmodels sent it (HTTP {status}).",
            "Check the key in your inputs, .env or pip configuration, then run again.",
        )

    @contextlib.contextmanager
    def web(self, credentials: Sequence[Credential] | None = None) -> Iterator[Client]:
        """pipmodels' own HTTP client, with the run's keys (each for its origin) unless
        ``credentials`` are given."""
        from pipmodels.http import client

        with client(
            self.base_environ,
            self.redactor,
            self.keys() if credentials is None else credentials,
        ) as web:
            yield web

    @contextlib.contextmanager
    def scratch(self, prefix: str) -> Iterator[Path]:
        """A temporary folder inside this run's private folder."""
        folder = Path(tempfile.mkdtemp(prefix=prefix, dir=self.run_dir))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        if self._gateway is not None:
            self._gateway.close()
            self._gateway = None
        if self._run_dir is not None:
            shutil.rmtree(self._run_dir, ignore_errors=True)
            self._run_dir = None
        self._environ = None


def _around_proxies(env: Mapping[str, str], user: Mapping[str, str]) -> dict[str, str]:
    """Settings that keep children's requests to the gateway off any proxy: ``NO_PROXY``
    gains 127.0.0.1; pip's own proxy setting (which pip applies to every host) becomes the
    ``HTTP(S)_PROXY`` that ``NO_PROXY`` can except. The gateway itself uses pip's proxy."""
    changes: dict[str, str] = {}
    proxy = pipconfig.settings(user, ("proxy",)).get("proxy", "").strip()
    if proxy:
        changes.update(PIP_PROXY="", HTTP_PROXY=proxy, HTTPS_PROXY=proxy)
    for name in ("NO_PROXY", "no_proxy"):
        current = [h for h in env.get(name, "").split(",") if h.strip()]
        changes[name] = ",".join([*current, "127.0.0.1"])
    return changes
