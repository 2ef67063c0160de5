"""Credentials: how they are found, stripped from URLs, carried by netrc, and redacted."""

from __future__ import annotations

import base64
import netrc
from pathlib import Path
from urllib.parse import quote

import pytest

from pipmodels import pipconfig
from pipmodels.context import Context
from pipmodels.credentials import (
    Credential,
    Redactor,
    check_one_per_host,
    load_env_file,
    netrc_text,
    redact_url,
    require_userinfo_only,
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
    assert cred.host == urlhost(stripped)


def urlhost(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or ""


def test_split_userinfo_leaves_a_plain_url_alone() -> None:
    assert split_userinfo("https://pypi.org/simple/") == ("https://pypi.org/simple/", None)


def test_redact_url_masks_the_whole_userinfo_even_with_at_in_the_password() -> None:
    assert redact_url("see https://user:pa@ss@host/x") == "see https://****@host/x"
    assert redact_url(f"-f https://{KEY}@h") == "-f https://****@h"


@pytest.mark.parametrize(
    "raw",
    [
        "https://host/tok/${KEY}/simple/",
        "https://host/simple/?token=${KEY}",
        "https://${HOST}/simple/",
    ],
)
def test_a_variable_outside_the_userinfo_is_refused(raw: str) -> None:
    with pytest.raises(PipmodelsError) as caught:
        require_userinfo_only(raw, "models.txt, line 1")
    assert "cannot keep it off pip's command line" in caught.value.message
    assert "https://${KEY}@host/path" in caught.value.hint


@pytest.mark.parametrize(
    "raw",
    ["https://${KEY}@host/simple/", "https://user:${KEY}@host/", "/local/${DIR}/wheels", "x"],
)
def test_a_variable_in_the_userinfo_or_a_local_path_is_accepted(raw: str) -> None:
    require_userinfo_only(raw, "here")


def test_redactor_scrubs_the_value_its_encodings_and_the_authorization_header() -> None:
    redactor = Redactor()
    cred = Credential("host", "me", "p@ss word!")
    redactor.add_credential(cred)
    header = base64.b64encode(b"me:p@ss word!").decode()
    text = f"a p@ss word! b {quote('p@ss word!', safe='')} c Basic {header}"
    cleaned = redactor(text)
    assert "p@ss" not in cleaned
    assert header not in cleaned
    assert cleaned.count("****") >= 3


def test_netrc_carries_each_form_and_python_and_requests_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = [
        Credential("download.prodi.gy", KEY, ""),
        Credential("gitlab.example.com", "__token__", 'to"k en#1'),
    ]
    user = tmp_path / "user-netrc"
    user.write_text("machine example.org login alice password wonderland\n")
    path = tmp_path / "netrc"
    path.write_text(netrc_text(creds, user))
    hosts = netrc.netrc(str(path)).hosts
    assert hosts["download.prodi.gy"][0] == KEY
    assert hosts["gitlab.example.com"][2] == 'to"k en#1'
    assert hosts["example.org"][2] == "wonderland"  # the user's own entries still work
    from requests.utils import get_netrc_auth

    monkeypatch.setenv("NETRC", str(path))
    assert get_netrc_auth("https://download.prodi.gy/") == (KEY, "")


def test_two_keys_for_one_host_are_refused() -> None:
    same = Credential("h", "a", "1")
    assert check_one_per_host([same, same]) == [same]
    with pytest.raises(PipmodelsError, match="Two different credentials are given for h"):
        check_one_per_host([same, Credential("h", "b", "2")])


def test_pip_settings_lose_their_userinfo_and_the_key_goes_to_netrc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
        assert env["PIP_EXTRA_INDEX_URL"] == (
            "https://example.jfrog.io/simple https://plain.example/simple"
        )
        assert env["PIP_FIND_LINKS"] == "https://download.prodi.gy /opt/wheels"
        text = Path(env["NETRC"]).read_text()
        assert "TOKEN1" in text and KEY in text
        assert oct(Path(env["NETRC"]).stat().st_mode & 0o777) == "0o600"
        assert "TOKEN1" not in " ".join(v for k, v in env.items() if k != "NETRC")
        assert ctx.redactor("TOKEN1 and " + KEY) == "**** and ****"
    finally:
        ctx.close()
    assert not Path(env["NETRC"]).exists()


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
