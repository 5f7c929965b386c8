from __future__ import annotations

from collections.abc import Iterator

import pytest

from azpublish.errors import DeployError
from azpublish.redact import (
    MASK,
    forget_secrets,
    redact,
    register_secret,
    register_url_credentials,
    secrets_snapshot,
)


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize("url", [
    "https://user:hunter2pw@pkgs.example.test/simple/",
    "https://PATTOKEN123@pkgs.example.test/_packaging/feed/pypi/simple/",
    "http://a%40b:p%2Fw0rd@127.0.0.1:8080/simple",
])
def test_url_userinfo_is_masked(url: str) -> None:
    text = f"Looking in indexes: {url} and more"
    out = redact(text)
    assert "@" in out and MASK in out
    userinfo = url.split("://", 1)[1].split("@", 1)[0]
    assert userinfo not in out
    assert out.endswith(" and more")


def test_registered_url_password_masked_even_without_url_shape() -> None:
    register_url_credentials("https://user:s3cr3t-value@host.test/simple")
    assert redact("pip said: s3cr3t-value is wrong") == f"pip said: {MASK} is wrong"


def test_token_as_username_is_registered() -> None:
    register_url_credentials("https://onlytoken999@host.test/simple")
    assert "onlytoken999" in secrets_snapshot()
    assert "onlytoken999" not in redact("header onlytoken999")


def test_percent_encoded_forms_are_masked() -> None:
    register_secret("p@ss/word")
    assert redact("x p%40ss%2Fword y") == f"x {MASK} y"
    assert redact("x p@ss/word y") == f"x {MASK} y"


def test_short_values_are_not_treated_as_secrets() -> None:
    register_secret("ab")
    assert redact("abc ab") == "abc ab"


def test_authorization_header_masked() -> None:
    assert "abc.def.ghi" not in redact("Authorization: Bearer abc.def.ghi")
    assert "dXNlcjpwdw==" not in redact('{"Authorization": "Basic dXNlcjpwdw=="}')


def test_errors_redact_their_message_and_repr() -> None:
    register_secret("topsecretvalue")
    error = DeployError("upload failed with topsecretvalue",
                        where="https://u:pw1234@h.test/api", fix="retry topsecretvalue")
    for text in (str(error), repr(error), error.render()):
        assert "topsecretvalue" not in text
        assert "pw1234" not in text


def test_long_text_without_credentials_is_unchanged() -> None:
    # These inputs took minutes with the quadratic pattern this replaced; now milliseconds.
    for text in ["a" * 200_000, "https://" + "b" * 200_000, "x://y " * 40_000]:
        assert redact(text) == text
