"""The toolchain's one reader of pip's configuration, and what it gives each installer.

Files and variables are made per test (``environ`` is passed in, never this process's); one test
asks the real pip (``pip config list``) to confirm the merge order is pip's own.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path, PurePosixPath

import pytest

from azpublish.builders.cache import cache_key
from azpublish.builders.engine import InstallRequest
from azpublish.errors import BuildError
from azpublish.redact import redact
from azpublish.runtime import Target
from azpublish.toolchain.pip_config import config_files, read_pip_options
from azpublish.toolchain.sources import PackageSources

PASSWORD = "conf-Secret-4711"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    """A machine whose global, user (legacy and XDG) files live under tmp_path."""
    return {"HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "home/.config"),
            "XDG_CONFIG_DIRS": str(tmp_path / "etc-xdg")}


def global_file(environ: dict[str, str]) -> Path:
    return Path(environ["XDG_CONFIG_DIRS"]) / "pip" / "pip.conf"


def user_file(environ: dict[str, str]) -> Path:
    return Path(environ["XDG_CONFIG_HOME"]) / "pip" / "pip.conf"


def legacy_user_file(environ: dict[str, str]) -> Path:
    return Path(environ["HOME"]) / ".pip" / "pip.conf"


def test_the_files_are_pips_in_pips_order(environ: dict[str, str], tmp_path: Path) -> None:
    files = config_files(environ)
    assert files[:2] == [global_file(environ), Path("/etc/pip.conf")]
    assert files[2:4] == [legacy_user_file(environ), user_file(environ)]
    assert files[4] == Path(sys.prefix) / "pip.conf"  # site: the environment's own
    explicit = write(tmp_path / "explicit.conf", "")
    with_explicit = config_files({**environ, "PIP_CONFIG_FILE": str(explicit)})
    # An existing PIP_CONFIG_FILE comes last, and the user's files are then not read at all.
    assert with_explicit[-1] == explicit and user_file(environ) not in with_explicit
    assert config_files({**environ, "PIP_CONFIG_FILE": os.devnull}) == []


def test_later_files_win_and_pip_config_file_replaces_the_user_files(
        environ: dict[str, str], tmp_path: Path) -> None:
    write(global_file(environ), "[global]\nindex-url = https://global.invalid/simple\n"
                                "trusted-host = global.invalid\n")
    write(legacy_user_file(environ), "[global]\nindex-url = https://legacy.invalid/simple\n"
                                     "find-links = /legacy\n")
    write(user_file(environ), "[global]\nindex-url = https://user.invalid/simple\n")
    options = read_pip_options({}, environ)
    assert options.values["index-url"] == "https://user.invalid/simple"
    assert options.values["find-links"] == "/legacy"  # the newer user file did not set it
    assert options.values["trusted-host"] == "global.invalid"
    assert options.origins["index-url"] == f"{user_file(environ)} [global]"

    explicit = write(tmp_path / "explicit.conf",
                     "[global]\nextra-index-url =\n    https://a.invalid/s\n    https://b.invalid/s\n")
    options = read_pip_options({}, {**environ, "PIP_CONFIG_FILE": str(explicit)})
    assert options.values["index-url"] == "https://global.invalid/simple"
    assert "find-links" not in options.values  # the user files were skipped
    assert options.values["extra-index-url"] == "https://a.invalid/s https://b.invalid/s"


def test_the_install_section_beats_global_in_any_file_and_variables_beat_both(
        environ: dict[str, str], tmp_path: Path) -> None:
    write(global_file(environ), "[install]\nindex-url = https://install.invalid/simple\n")
    explicit = write(tmp_path / "explicit.conf",
                     "[global]\nindex-url = https://global.invalid/simple\n"
                     "default-timeout = 5\nfind-links = /from-file\n")
    environ = {**environ, "PIP_CONFIG_FILE": str(explicit), "PIP_FIND_LINKS": "/from-env",
               "PIP_TIMEOUT": "9"}
    options = read_pip_options({}, environ)
    assert options.values["index-url"] == "https://install.invalid/simple"
    assert options.values["find-links"] == "/from-env"
    assert options.values["timeout"] == "9"  # default-timeout is pip's alias of timeout
    # azpublish's own flags (overrides) win over everything.
    options = read_pip_options({"PIP_INDEX_URL": "https://flag.invalid/simple"}, environ)
    assert options.values["index-url"] == "https://flag.invalid/simple"
    assert options.origins["index-url"] == "PIP_INDEX_URL"


def test_only_source_options_are_kept_and_uv_variables_are_named(
        environ: dict[str, str]) -> None:
    write(user_file(environ), "[global]\ntarget = /somewhere\nindex-url = \n")
    options = read_pip_options({}, {**environ, "PIP_USER": "1", "PIP_CONSTRAINT": "/c.txt",
                                    "PIP_NO_INDEX": "yes", "UV_INDEX_URL": "https://x.invalid/"})
    ours = {k: v for k, v in options.values.items()  # /etc/pip.conf is the machine's own
            if not options.origins[k].startswith("/etc/pip.conf")}
    assert ours == {"no-index": "yes"}  # an empty value counts as unset, as in pip
    assert options.ignored_uv == ("UV_INDEX_URL",)


def test_the_merge_agrees_with_pips_own_view(environ: dict[str, str], tmp_path: Path) -> None:
    write(global_file(environ), "[global]\nindex-url = https://global.invalid/simple\n"
                                "[install]\nfind-links = /global-install\n")
    write(user_file(environ), "[global]\nindex-url = https://user.invalid/simple\n"
                              "find-links = /user-global\ntrusted-host = user.invalid\n")
    environ = {**environ, "PIP_TRUSTED_HOST": "env.invalid",
               "PATH": os.environ.get("PATH", os.defpath)}
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], env=environ,
                            capture_output=True, text=True, check=True, timeout=60).stdout
    by_section: dict[str, dict[str, str]] = {"global": {}, "install": {}, ":env:": {}}
    for line in listed.splitlines():
        key, _, value = line.partition("=")
        section, _, option = key.partition(".")
        if section in by_section:
            by_section[section][option] = " ".join(ast.literal_eval(value).split())
    pips = {**by_section["global"], **by_section["install"], **by_section[":env:"]}
    ours = read_pip_options({}, environ).values
    assert {k: v for k, v in pips.items() if k in ours} == dict(ours)
    assert ours["find-links"] == "/global-install" and ours["trusted-host"] == "env.invalid"


# -- the installers' view ------------------------------------------------------------------------


def test_no_index_is_a_flag_for_uv_and_a_variable_for_pip(environ: dict[str, str]) -> None:
    sources = PackageSources.read({"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/w1 /w2"}, environ)
    assert sources.flags("uv") == ["--no-index"]  # `uv pip` ignores UV_NO_INDEX
    uv = sources.environment("uv")
    assert "UV_NO_INDEX" not in uv and uv["UV_FIND_LINKS"] == "/w1,/w2"
    pip = sources.environment("pip")
    assert pip["PIP_NO_INDEX"] == "1" and pip["PIP_FIND_LINKS"] == "/w1 /w2"
    assert pip["PIP_CONFIG_FILE"] == os.devnull  # pip reads exactly these variables
    assert PackageSources.read({"PIP_NO_INDEX": "off"}, environ).flags("uv") == []
    with pytest.raises(BuildError) as caught:
        PackageSources.read({"PIP_NO_INDEX": "maybe"}, environ)
    assert caught.value.where == "PIP_NO_INDEX"


def test_a_host_install_sees_no_pip_or_uv_variable_but_the_sources(
        environ: dict[str, str]) -> None:
    sources = PackageSources.read({"PIP_INDEX_URL": "https://a.invalid/simple"}, environ)
    env = sources.installer_environment("uv", {"PATH": "/bin", "PIP_TARGET": "/t",
                                               "UV_INDEX_URL": "https://x.invalid/",
                                               "UV_CACHE_DIR": "/c"})
    assert env["PATH"] == "/bin" and env["UV_CACHE_DIR"] == "/c"
    assert env["UV_INDEX_URL"] == "https://a.invalid/simple" and "PIP_TARGET" not in env


def test_a_container_reaches_host_paths_under_host(environ: dict[str, str],
                                                   tmp_path: Path) -> None:
    links = (tmp_path / "links").resolve()
    links.mkdir()
    index = write(tmp_path / "index" / "simple" / "index.html", "").resolve()
    ca = write(tmp_path / "ca.pem", "").resolve()
    sources = PackageSources.read({"PIP_FIND_LINKS": f"{links} https://x.invalid/links",
                                   "PIP_INDEX_URL": f"file://{index}", "PIP_CERT": str(ca)},
                                  environ)
    inside, mounts = sources.in_container(PurePosixPath("/host"))
    assert inside.find_links == (f"/host{links}", "https://x.invalid/links")
    assert inside.index_url == f"file:///host{index}"
    assert inside.cert == f"/host{ca}"
    assert mounts == {str(links): f"/host{links}", str(index.parent): f"/host{index.parent}",
                      str(ca): f"/host{ca}"}
    assert inside.environment("pip")["REQUESTS_CA_BUNDLE"] == f"/host{ca}"


# -- secrets -------------------------------------------------------------------------------------


def test_credentials_in_a_pip_conf_are_secrets_everywhere(environ: dict[str, str],
                                                          tmp_path: Path) -> None:
    url = f"https://reader:{PASSWORD}@127.0.0.1:9/simple/"
    write(user_file(environ), f"[global]\nextra-index-url = {url}\nno-index = perhaps\n")
    with pytest.raises(BuildError) as caught:
        PackageSources.read({}, environ)
    assert PASSWORD not in caught.value.render() and PASSWORD not in repr(caught.value)

    write(user_file(environ), f"[global]\nextra-index-url = {url}\n")
    sources = PackageSources.read({}, environ)
    assert redact(f"the index said no: {PASSWORD}") == "the index said no: ***"
    assert PASSWORD not in repr(sources)
    identity = json.dumps(sources.identity())
    assert PASSWORD not in identity and "sha256:" in identity
    assert sources.environment("uv")["UV_EXTRA_INDEX_URL"] == url  # the installer gets it


def test_a_pip_conf_index_change_changes_the_cache_key(environ: dict[str, str],
                                                       tmp_path: Path) -> None:
    root = tmp_path / "app"
    write(root / "requirements.txt", "six\n")
    config = write(tmp_path / "pip.conf", "[global]\nindex-url = https://a.invalid/simple\n")
    environ = {**environ, "PIP_CONFIG_FILE": str(config)}

    def key() -> str:
        sources = PackageSources.read({}, environ)
        request = InstallRequest(root, (root / "requirements.txt",), Target("3.11"), "uv",
                                 package_sources=sources)
        return cache_key(request, {"engine": "wheels"}, {}).digest

    first = key()
    assert key() == first
    config.write_text(f"[install]\nindex-url = https://reader:{PASSWORD}@b.invalid/simple\n")
    assert key() != first
    links = tmp_path / "wheels"
    links.mkdir()
    config.write_text(f"[global]\nindex-url = https://a.invalid/simple\nfind-links = {links}\n")
    with_links = key()
    (links / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"wheel")
    assert key() != with_links  # what a find-links folder holds is part of the key
