"""Reading .PublishSettings files: the right profile, safe parsing, and no password in errors."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pytest

from azpublish.azure.auth import PublishProfile, read_publish_profile
from azpublish.errors import ExitCode, UsageError
from azpublish.redact import redact


def _password() -> str:
    return secrets.token_urlsafe(32)


def _profile(method: str, password: str, **attributes: str | None) -> str:
    defaults = {"profileName": f"myapp - {method}", "publishMethod": method,
                "publishUrl": "myapp.scm.azurewebsites.net:443", "userName": "$myapp",
                "userPWD": password, "destinationAppUrl": "https://myapp.azurewebsites.net"}
    merged = {**defaults, **attributes}
    pairs = " ".join(f'{k}="{v}"' for k, v in merged.items() if v is not None)
    return f"<publishProfile {pairs}><databases /></publishProfile>"


def _document(*profiles: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?>\n<publishData>{"".join(profiles)}</publishData>'


def test_the_zipdeploy_profile_is_chosen_over_msdeploy_and_ftp() -> None:
    web, ftp, zipped = _password(), _password(), _password()
    document = _document(
        _profile("MSDeploy", web, msdeploySite="myapp"),
        _profile("FTP", ftp, publishUrl="ftps://waws-prod.ftp.example/site/wwwroot",
                 userName="myapp\\$myapp"),
        _profile("ZipDeploy", zipped))
    profile = read_publish_profile(document)
    assert profile == PublishProfile(app="myapp", scm_url="https://myapp.scm.azurewebsites.net:443",
                                     user="$myapp", password=zipped,
                                     destination_url="https://myapp.azurewebsites.net")


def test_msdeploy_is_the_fallback() -> None:
    password = _password()
    profile = read_publish_profile(_document(
        _profile("FTP", _password()), _profile("MSDeploy", password, msdeploySite="other__slot",
                                               publishUrl="other-slot.scm.example:443")))
    assert (profile.app, profile.password) == ("other__slot", password)
    assert profile.scm_url == "https://other-slot.scm.example:443"


def test_without_msdeploy_site_the_app_comes_from_the_user_name() -> None:
    profile = read_publish_profile(_document(_profile("ZipDeploy", _password(),
                                                      userName="$func-app-7")))
    assert profile.app == "func-app-7"


def test_a_port_and_path_in_publish_url_are_kept() -> None:
    profile = read_publish_profile(_document(_profile(
        "ZipDeploy", _password(), publishUrl="127.0.0.1:8443/scm/myapp/", destinationAppUrl="")))
    assert profile.scm_url == "https://127.0.0.1:8443/scm/myapp"
    assert profile.destination_url is None


def test_a_file_path_is_read(tmp_path: Path) -> None:
    password = _password()
    path = tmp_path / "myapp.PublishSettings"
    path.write_bytes(b"\xef\xbb\xbf" + _document(_profile("ZipDeploy", password)).encode())
    assert read_publish_profile(f"  {path}\n").password == password


def test_xml_text_with_a_bom_and_whitespace_is_read() -> None:
    password = _password()
    text = "\ufeff\n  " + _document(_profile("ZipDeploy", password))
    assert read_publish_profile(text).password == password


def test_the_password_is_hidden_and_registered() -> None:
    password = _password()
    profile = read_publish_profile(_document(_profile("ZipDeploy", password)))
    assert password not in repr(profile)
    assert redact(f"basic {profile.user}:{password}") == f"basic {profile.user}:***"


def _error(value: str, **kwargs: str) -> UsageError:
    with pytest.raises(UsageError) as caught:
        read_publish_profile(value, **kwargs)
    assert caught.value.exit_code == ExitCode.USAGE
    return caught.value


def test_xml_text_errors_name_the_environment_variable() -> None:
    error = _error("<publishData><publishProfile")
    assert error.where == "AZPUBLISH_PUBLISH_PROFILE"
    assert "not valid XML" in error.what
    assert error.fix is not None and "publish profile" in error.fix.lower()


def test_a_caller_can_name_the_source() -> None:
    assert _error("<nope", source="--publish-profile").where == "--publish-profile"


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.PublishSettings"
    error = _error(str(missing))
    assert (error.where, error.what) == (str(missing), f"publish profile {missing} does not exist")
    broken = tmp_path / "broken.PublishSettings"
    broken.write_text("<publishData>")
    assert _error(str(broken)).where == str(broken)


def test_an_oversized_file_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.PublishSettings"
    big.write_bytes(b"<publishData>" + b" " * (1 << 20) + b"</publishData>")
    assert "larger than" in _error(str(big)).what


def test_an_empty_value_is_refused() -> None:
    assert "empty" in _error("   ").what


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<publishData><publishProfile publishMethod="ZipDeploy" publishUrl="x.example" userName="$x"
 userPWD="&lol9;"/></publishData>"""


@pytest.mark.parametrize("document", [
    BILLION_LAUGHS,
    '<!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><publishData><publishProfile'
    ' publishMethod="ZipDeploy" publishUrl="x.example" userName="$x" userPWD="&xxe;"/>'
    "</publishData>",
    '<!DOCTYPE publishData SYSTEM "http://127.0.0.1:9/dtd"><publishData/>',
])
def test_dtds_and_entities_are_refused_at_once(document: str) -> None:
    started = time.monotonic()
    error = _error(document)
    assert "DTD or entities" in error.what
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("missing", "named"), [
    ({"userPWD": None}, "userPWD"),
    ({"publishUrl": None, "userName": ""}, "publishUrl, userName"),
])
def test_missing_attributes_are_named_and_the_password_never_echoed(
        missing: dict[str, str | None], named: str) -> None:
    password = _password()
    error = _error(_document(_profile("ZipDeploy", password, **missing)))
    assert error.what == f"the ZipDeploy profile lacks {named}"
    assert password not in error.render() + repr(error)


def test_no_usable_profile_lists_what_was_found() -> None:
    error = _error(_document(_profile("FTP", _password()), _profile("ReadOnly - FTP", "x" * 8)))
    assert error.what == ("no ZipDeploy or MSDeploy publishProfile in it "
                          "(found: FTP, ReadOnly - FTP)")


@pytest.mark.parametrize(("url", "message"), [
    ("http://myapp.scm.example", "is not an https host"),
    ("", "lacks publishUrl"),
    ("https://", "is not an https host"),
    ("myapp.scm.example/a path", "is not an https host"),
])
def test_bad_publish_urls_are_refused(url: str, message: str) -> None:
    assert message in _error(_document(_profile("ZipDeploy", _password(), publishUrl=url))).what


def test_credentials_in_publish_url_are_refused_without_quoting_them() -> None:
    password, hidden = _password(), "embedded-" + secrets.token_hex(8)
    error = _error(_document(_profile("ZipDeploy", password,
                                      publishUrl=f"$myapp:{hidden}@myapp.scm.example")))
    assert error.what == "the ZipDeploy profile's publishUrl carries credentials"
    assert hidden not in error.render() and password not in error.render()


def test_xml_after_stray_text_is_never_quoted_as_a_path() -> None:
    password = _password()
    error = _error("oops " + _document(_profile("ZipDeploy", password)))
    assert error.where == "AZPUBLISH_PUBLISH_PROFILE"
    assert password not in error.render()
