from __future__ import annotations

import re
from pathlib import Path

import pytest

from azpublish.errors import ExitCode, UsageError
from azpublish.settings import OPTIONS, Settings, parse_size, resolve, settings_field_names


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "host.json").write_text('{"version": "2.0"}')
    return tmp_path


def test_every_option_is_a_settings_field() -> None:
    names = {o.name for o in OPTIONS} - {"no_build"}
    assert names == settings_field_names()


def test_defaults(app: Path) -> None:
    settings = resolve(["--project-dir", str(app)], environ={})
    assert settings.build == "remote"
    assert settings.json is False
    assert settings.sources["build"] == "default"


def test_flag_beats_env_beats_pyproject(app: Path) -> None:
    (app / "pyproject.toml").write_text('[tool.azpublish]\nbuild = "custom"\napp = "from-file"\n'
                                        'resource-group = "rg-file"\n')
    env = {"AZPUBLISH_BUILD": "local", "AZPUBLISH_APP": "from-env"}
    settings = resolve(["--project-dir", str(app), "--build", "remote"], environ=env)
    assert (settings.build, settings.sources["build"]) == ("remote", "flag")
    assert (settings.app, settings.sources["app"]) == ("from-env", "env")
    assert (settings.resource_group, settings.sources["resource_group"]) == ("rg-file", "pyproject")


def test_env_only(app: Path) -> None:
    env = {"AZPUBLISH_PROJECT_DIR": str(app), "AZPUBLISH_JSON": "true",
           "AZPUBLISH_MAX_PACKAGE_SIZE": "1.5MiB", "AZPUBLISH_PYTHON_VERSION": "3.12"}
    settings = resolve([], environ=env)
    assert settings.project_dir == app
    assert settings.json is True
    assert settings.max_package_size == int(1.5 * 2**20)
    assert settings.python_version == "3.12"


def test_empty_env_value_is_unset(app: Path) -> None:
    settings = resolve(["--project-dir", str(app)], environ={"AZPUBLISH_BUILD": ""})
    assert settings.build == "remote"


def test_no_build_is_custom(app: Path) -> None:
    assert resolve(["--project-dir", str(app), "--no-build"], environ={}).build == "custom"
    env = {"AZPUBLISH_NO_BUILD": "1"}
    assert resolve(["--project-dir", str(app)], environ=env).build == "custom"


def test_no_build_conflicts_with_other_build(app: Path) -> None:
    with pytest.raises(UsageError, match="conflicts"):
        resolve(["--project-dir", str(app), "--no-build", "--build", "remote"], environ={})


@pytest.mark.parametrize(("env", "message"), [
    ({"AZPUBLISH_JSON": "maybe"}, "AZPUBLISH_JSON: 'maybe' is not a boolean"),
    ({"AZPUBLISH_BUILD": "cloud"}, "AZPUBLISH_BUILD: 'cloud' is not one of"),
    ({"AZPUBLISH_PYTHON_VERSION": "3.9"}, "not a Functions runtime version"),
    ({"AZPUBLISH_MAX_PACKAGE_SIZE": "big"}, "is not a size"),
])
def test_bad_env_values_name_the_variable(app: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        resolve(["--project-dir", str(app)], environ=env)
    assert info.value.exit_code == ExitCode.USAGE


def test_bad_pyproject(app: Path) -> None:
    (app / "pyproject.toml").write_text("[tool.azpublish\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        resolve(["--project-dir", str(app)], environ={})


def test_unknown_pyproject_key(app: Path) -> None:
    (app / "pyproject.toml").write_text('[tool.azpublish]\nbuidl = "remote"\n')
    with pytest.raises(UsageError, match="unknown key.*buidl"):
        resolve(["--project-dir", str(app)], environ={})


def test_pyproject_value_of_wrong_type(app: Path) -> None:
    (app / "pyproject.toml").write_text("[tool.azpublish]\napp = [1, 2]\n")
    with pytest.raises(UsageError, match="key 'app': expected a str"):
        resolve(["--project-dir", str(app)], environ={})


def test_no_deploy_needs_output_zip(app: Path) -> None:
    with pytest.raises(UsageError, match="--output-zip"):
        resolve(["--project-dir", str(app), "--no-deploy"], environ={})


@pytest.mark.parametrize(("text", "size"), [
    ("100", 100), ("2KB", 2000), ("2k", 2000), ("3MiB", 3 * 2**20), ("1GiB", 2**30),
    ("1.5 MB", 1_500_000),
])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text, "x") == size


def test_settings_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().build = "custom"  # type: ignore[misc]


def test_a_mistyped_variable_is_named_with_the_nearest_setting() -> None:
    settings = resolve([], environ={"AZPUBLISH_BUIDL": "local", "AZPUBLISH_QQQQQQQQ": "1",
                                    "AZPUBLISH_CACHE_DIR": "/c", "AZPUBLISH_PYTHON_3_11": "/p",
                                    "AZPUBLISH_EMULATOR_STATE_DIR": "/s"})
    assert settings.build == "remote"  # the typo changed nothing...
    assert settings.warnings == (  # ...and says so; names azpublish reads are not warned about
        "the environment variable AZPUBLISH_BUIDL is not an azpublish setting, so it is "
        "ignored: did you mean AZPUBLISH_BUILD?",
        "the environment variable AZPUBLISH_QQQQQQQQ is not an azpublish setting, so it is ignored "
        "(see `azpublish --help`)")


@pytest.mark.parametrize(("argv", "warned"), [
    (["--build", "remote", "--engine", "wheels"], "--engine has no effect with --build remote"),
    (["--build", "custom", "--base-image", "x"], "--base-image has no effect with --build custom"),
    (["--no-deploy", "--output-zip", "a.zip", "--restore-settings"],
     "--restore-settings has no effect with --no-deploy"),
    (["--no-deploy", "--output-zip", "a.zip", "--verify-url", "/api/x"],
     "--verify-url has no effect with --no-deploy"),
    (["--package", "a.zip", "--build", "local"], "--build has no effect with --package"),
    (["--package", "a.zip", "--no-cache"], "--no-cache has no effect with --package"),
])
def test_an_option_without_effect_in_this_run_is_said(argv: list[str], warned: str) -> None:
    settings = resolve(argv, environ={})
    assert any(warning.startswith(warned) for warning in settings.warnings), settings.warnings


def test_options_that_take_effect_are_not_warned_about() -> None:
    assert resolve(["--build", "local", "--engine", "wheels"], environ={}).warnings == ()
    assert resolve(["--app", "x", "--restore-settings"], environ={}).warnings == ()


def test_every_variable_the_action_and_the_task_set_is_a_setting() -> None:
    root = Path(__file__).parents[2]
    task = root / "integrations" / "azure-pipelines"
    texts = [(root / "action.yml").read_text(),
             *(path.read_text() for path in task.iterdir() if path.is_file())]
    names = {name for text in texts for name in re.findall(r"AZPUBLISH_[A-Z0-9_]+", text)}
    assert names
    assert resolve([], environ=dict.fromkeys(names, "")).warnings == ()


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:1/", "ftp://x", "management.azure.com"])
def test_an_arm_endpoint_that_is_not_https_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError, match="is not an https:// URL") as raised:
        resolve(["--arm-endpoint", endpoint], environ={})
    assert raised.value.exit_code == ExitCode.USAGE
