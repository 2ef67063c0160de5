"""Credentials: how they are found, stripped from URLs, scoped to an origin, and redacted."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import pytest

from pipmodels import pipconfig
from pipmodels.context import Context
from pipmodels.credentials import (
    Credential,
    Origin,
    Redactor,
    load_env_file,
    one_per_origin,
    redact_url,
    split_userinfo,
)
from pipmodels.errors import PipmodelsError

KEY = "XXXX-1234-abcd-9999"


@pytest.mark.parametrize(
    ("url", "stripped", "login", "password"),
    [
        # Prodigy and Gemfury: the key is the user name, with no password and no colon.
        (f"https://{KEY}@download.prodi.gy", "https://download.prodi.gy", KEY, ""),
        (f"https://{KEY}:@download.prodi.gy/x/", "https://download.prodi.gy/x/", KEY, ""),
        # GitLab, CodeArtifact, Azure: a user name and a token.
        (
            "https://__token__:glpat-abc@gitlab.example.com:8443/api/v4/simple",
            "https://gitlab.example.com:8443/api/v4/simple",
            "__token__",
            "glpat-abc",
        ),
        # A password holding "@" and percent-encoded characters.
        ("https://user:pa@ss@host/simple/", "https://host/simple/", "user", "pa@ss"),
        ("https://user:p%40ss%20w@host/", "https://host/", "user", "p@ss w"),
    ],
)
def test_split_userinfo_takes_every_form_users_write(
    url: str, stripped: str, login: str, password: str
) -> None:
    result, cred = split_userinfo(url)
    assert result == stripped
    assert cred is not None
    assert (cred.login, cred.password) == (login, password)
    assert cred.origin == Origin.of(stripped)


def test_split_userinfo_leaves_a_plain_url_alone() -> None:
    assert split_userinfo("https://pypi.org/simple/") == ("https://pypi.org/simple/", None)


def test_redact_url_masks_the_whole_userinfo_even_with_at_in_the_password() -> None:
    assert redact_url("see https://user:pa@ss@host/x") == "see https://****@host/x"
    assert redact_url(f"-f https://{KEY}@h") == "-f https://****@h"


def test_redactor_scrubs_the_value_its_encodings_and_the_authorization_header() -> None:
    redactor = Redactor()
    cred = Credential(Origin.of("https://host"), "me", "p@ss word!")
    redactor.add_credential(cred)
    header = base64.b64encode(b"me:p@ss word!").decode()
    text = f"a p@ss word! b {quote('p@ss word!', safe='')} c Basic {header}"
    cleaned = redactor(text)
    assert "p@ss" not in cleaned
    assert header not in cleaned
    assert cleaned.count("****") >= 3


def test_an_origin_is_scheme_host_and_port() -> None:
    assert Origin.of("https://Host/x") == Origin("https", "host", 443)
    assert Origin.of("https://host:443/") == Origin.of("https://host/")
    assert Origin.of("https://host:8443/") != Origin.of("https://host/")
    assert Origin.of("http://host/") != Origin.of("https://host/")
    assert Origin.of("/opt/wheels") is None
    assert Origin.of("file:///opt/wheels") is None
    assert Origin.of("https://host:99999/") is None  # not a port: no origin, no key
    assert str(Origin("https", "host", 8443)) == "https://host:8443"
    assert str(Origin("http", "host", 80)) == "http://host"


def test_two_keys_for_one_origin_are_refused_and_one_host_may_hold_two() -> None:
    here = Origin("https", "h", 443)
    same = Credential(here, "a", "1")
    assert one_per_origin([same, same]) == [same]
    other_port = Credential(Origin("https", "h", 8443), "b", "2")
    assert one_per_origin([same, other_port]) == [same, other_port]
    with pytest.raises(PipmodelsError, match="Two different credentials are given for https://h"):
        one_per_origin([same, Credential(here, "b", "2")])


def test_pip_settings_lose_their_userinfo_and_keyed_origins_go_through_the_gateway(
    tmp_path: Path,
) -> None:
    config = tmp_path / "pip.conf"
    config.write_text(
        "[global]\nextra-index-url = https://USER:TOKEN1@example.jfrog.io/simple\n"
        "  https://plain.example/simple\n"
    )
    environ = {
        "PIP_CONFIG_FILE": str(config),
        "PIP_FIND_LINKS": f"https://{KEY}@download.prodi.gy /opt/wheels",
        "PIPMODELS_STATE_DIR": str(tmp_path / "state"),
        "NETRC": str(tmp_path / "none"),
    }
    ctx = Context.create(environ, Redactor(), [])
    try:
        env = ctx.environ
        gateway = ctx.gateway
        assert gateway is not None
        jfrog, prodigy = (
            gateway.route(Origin.of(url))
            for url in ("https://example.jfrog.io", "https://download.prodi.gy")
        )
        assert env["PIP_EXTRA_INDEX_URL"] == f"{jfrog}/simple https://plain.example/simple"
        assert env["PIP_FIND_LINKS"] == f"{prodigy}/ /opt/wheels"
        assert "NETRC" not in env or env["NETRC"] == environ["NETRC"]  # the user's, untouched
        everything = " ".join(f"{k}={v}" for k, v in env.items())
        assert "TOKEN1" not in everything and KEY not in everything
        assert ctx.redactor("TOKEN1 and " + KEY) == "**** and ****"
        # Messages name the origin, not the gateway.
        assert ctx.redactor(f"Looking in links: {prodigy}/") == (
            "Looking in links: https://download.prodi.gy/"
        )
        run_dir = ctx.run_dir
        assert not any(KEY in p.name for p in run_dir.rglob("*"))
    finally:
        ctx.close()
    assert not run_dir.exists()


def test_pip_config_files_follow_pips_rules(tmp_path: Path) -> None:
    import os

    assert pipconfig.config_files({"PIP_CONFIG_FILE": os.devnull}) == []
    config = tmp_path / "pip.conf"
    config.write_text("[global]\nindex_url = https://a/simple\n[install]\nfind-links = x y\n")
    environ = {"PIP_CONFIG_FILE": str(config), "HOME": str(tmp_path)}
    assert config in pipconfig.config_files(environ)
    settings = pipconfig.url_settings({**environ, "XDG_CONFIG_DIRS": str(tmp_path / "none")})
    assert settings["index-url"] == ["https://a/simple"]
    assert settings["find-links"] == ["x", "y"]
    overridden = pipconfig.url_settings({**environ, "PIP_INDEX_URL": "https://b/simple"})
    assert overridden["index-url"] == ["https://b/simple"]


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("KEY=value", "value"),
        ("export KEY=value", "value"),
        ('KEY="value"', "value"),
        ("KEY='value'", "value"),
        ("KEY=value  # comment", "value"),
        ("KEY='value'  # comment", "value"),
        ("KEY = value", "value"),
        ("KEY=value\r", "value"),
    ],
)
def test_env_files_as_people_write_them(tmp_path: Path, line: str, value: str) -> None:
    env = tmp_path / ".env"
    env.write_bytes(f"# a comment\n\n{line}\nOTHER=1\n".encode())
    assert load_env_file(env) == {"KEY": value, "OTHER": "1"}


def test_a_broken_env_line_is_named(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("GOOD=1\nthis is not an assignment\n")
    with pytest.raises(PipmodelsError, match=r"\.env, line 2: expected NAME=value"):
        load_env_file(env)
