"""The publish command end to end (no network): exit codes, listings, JSON, dry runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import PROJECTS, Run


def test_no_deploy_writes_a_zip_with_host_json_at_root(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "app.zip"
    dest.parent.mkdir()
    code, out, err = run("--project-dir", PROJECTS / "v2-http", "--no-deploy",
                         "--output-zip", dest)
    assert code == 0, err
    assert out == ""  # human output goes to stderr
    names = zipfile.ZipFile(dest).namelist()
    assert "host.json" in names and "function_app.py" in names
    assert "local.settings.json" not in names  # never published
    assert not any(n.startswith("tests/") for n in names)  # .funcignore
    assert "packaged" in err and "sha256" in err


def test_json_report(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "app.zip"
    code, out, _ = run("--project-dir", PROJECTS / "v1-shared", "--no-deploy",
                       "--output-zip", dest, "--json", "--build", "custom")
    assert code == 0
    report = json.loads(out)
    package = report["package"]
    assert package["path"] == str(dest)
    assert package["size"] == dest.stat().st_size
    assert package["file_count"] == len(zipfile.ZipFile(dest).namelist())
    assert len(package["sha256"]) == 64
    assert report["build"] == {"mode": "custom", "python_version": "3.11"}
    assert report["project"]["model"] == "v1"
    assert [e["name"] for e in package["largest"]]
    assert report["exit_code"] == 0 and report["warnings"] == [
        "requirements.txt lists packages but there is no .python_packages/lib/site-packages: "
        "the app will fail to import them (use --build local or --build remote to install them)"]


def test_list_included_matches_the_zip(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "app.zip"
    code, listed, _ = run("--project-dir", PROJECTS / "v2-http", "--list-included-files")
    assert code == 0
    run("--project-dir", PROJECTS / "v2-http", "--no-deploy", "--output-zip", dest)
    assert listed.splitlines() == sorted(zipfile.ZipFile(dest).namelist())


def test_list_ignored_names_the_rule(run: Run) -> None:
    code, out, _ = run("--project-dir", PROJECTS / "v2-http", "--list-ignored-files")
    assert code == 0
    lines = dict(line.split("\t") for line in out.splitlines())
    assert lines["tests/"] == ".funcignore:2: tests/"
    assert lines["local.settings.json"].startswith("always")


def test_remote_build_leaves_python_packages_out(run: Run,
                                                 project_copy: Callable[[str], Path]) -> None:
    root = project_copy("v2-http")
    (root / ".python_packages/lib/site-packages/six").mkdir(parents=True)
    (root / ".python_packages/lib/site-packages/six/__init__.py").write_text("")
    _, remote, _ = run("--project-dir", root, "--list-included-files", "--build", "remote")
    _, custom, _ = run("--project-dir", root, "--list-included-files", "--build", "custom")
    assert ".python_packages/lib/site-packages/six/__init__.py" not in remote.splitlines()
    assert ".python_packages/lib/site-packages/six/__init__.py" in custom.splitlines()


def test_local_and_custom_builds_package_python_packages_whatever_funcignore_says(
        run: Run, project_copy: Callable[[str], Path], tmp_path: Path) -> None:
    """The azd templates list .python_packages in .funcignore; Core Tools packages it anyway
    for builds made here, and so must azpublish, or the app ships without its dependencies."""
    root = project_copy("v2-http")
    site = root / ".python_packages/lib/site-packages"
    (site / "six").mkdir(parents=True)
    (site / "six/__init__.py").write_text("")
    (site / "six/__pycache__").mkdir()
    (site / "six/__pycache__/x.cpython-311.pyc").write_bytes(b"")
    with (root / ".funcignore").open("a") as funcignore:
        funcignore.write(".python_packages\n*.txt\n")
    (site / "six/NOTES.txt").write_text("kept: inside the dependencies")
    dest = tmp_path / "app.zip"
    code, out, err = run("--project-dir", root, "--build", "custom", "--no-deploy",
                         "--output-zip", dest, "--json")
    assert code == 0, err
    names = zipfile.ZipFile(dest).namelist()
    assert ".python_packages/lib/site-packages/six/__init__.py" in names
    assert ".python_packages/lib/site-packages/six/NOTES.txt" in names
    assert not any("__pycache__" in n for n in names)  # the default rules still apply
    assert "requirements.txt" not in names  # .funcignore still rules the app's own files
    warning = next(w for w in json.loads(out)["warnings"] if ".python_packages" in w)
    assert ".funcignore:" in warning and "--build custom packages it anyway" in warning
    _, listed, _ = run("--project-dir", root, "--list-included-files", "--build", "custom")
    assert ".python_packages/lib/site-packages/six/__init__.py" in listed.splitlines()


def test_a_local_build_dry_run_leaves_the_tree_and_the_cache_untouched(
        run: Run, project_copy: Callable[[str], Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    root = project_copy("v2-http")
    cache = tmp_path / "cache"
    monkeypatch.setenv("AZPUBLISH_CACHE_DIR", str(cache))

    def snapshot() -> dict[str, tuple[int, int, bytes]]:
        return {p.relative_to(root).as_posix(): (p.stat().st_mtime_ns, p.stat().st_size,
                                                 p.read_bytes())
                for p in sorted(root.rglob("*")) if p.is_file()}

    before = snapshot()
    folders = sorted(p for p in root.rglob("*") if p.is_dir())
    code, out, err = run("--project-dir", root, "--build", "local", "--dry-run", "--no-deploy",
                         "--json")
    assert code == 0, err
    assert "would install requirements.txt" in err and "nothing was built" in err
    assert snapshot() == before
    assert sorted(p for p in root.rglob("*") if p.is_dir()) == folders
    assert not cache.exists()
    assert "function_app.py" in json.loads(out)["dry_run"]["files"]


def test_dry_run_writes_nothing(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "app.zip"
    code, out, err = run("--project-dir", PROJECTS / "v2-http", "--dry-run", "--no-deploy",
                         "--output-zip", dest, "--json")
    assert code == 0
    assert not dest.exists()
    assert "would package" in err
    assert "function_app.py" in json.loads(out)["dry_run"]["files"]


@pytest.mark.parametrize(("project", "message"), [
    ("bad-no-host", "no host.json here"),
    ("bad-host-json", "host.json is not valid JSON"),
    ("bad-host-version", "version '1.0'"),
    ("bad-function-json", "function.json is not valid JSON"),
    ("bad-missing-script", "scriptFile 'run.py' does not exist"),
    ("bad-no-functions", "no functions found"),
    ("bad-dotnet-settings", "not 'python'"),
])
def test_bad_project_exits_2_and_writes_nothing(run: Run, tmp_path: Path, project: str,
                                                message: str) -> None:
    dest = tmp_path / "app.zip"
    code, out, err = run("--project-dir", PROJECTS / project, "--no-deploy",
                         "--output-zip", dest, "--json")
    assert code == 2
    assert message in err
    assert json.loads(out)["error"]["exit_code"] == 2
    assert list(tmp_path.iterdir()) == []


def test_max_package_size(run: Run, tmp_path: Path) -> None:
    dest = tmp_path / "app.zip"
    previous = b"PK\x05\x06" + bytes(18)  # an earlier package (an empty zip)
    dest.write_bytes(previous)
    code, _, err = run("--project-dir", PROJECTS / "v2-http", "--no-deploy", "--output-zip",
                       dest, "--max-package-size", "100")
    assert code == 2
    assert "100" in err
    assert dest.read_bytes() == previous  # never overwritten after an error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.zip"]


def test_deploy_without_an_app_is_refused_before_anything_happens(run: Run,
                                                                  tmp_path: Path) -> None:
    code, _, err = run("--project-dir", PROJECTS / "v2-http", "--output-zip", tmp_path / "a.zip")
    assert code == 2
    assert "which app? --app is missing" in err
    assert list(tmp_path.iterdir()) == []


def test_deploy_without_a_subscription_is_refused(run: Run, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    code, _, err = run("--project-dir", PROJECTS / "v2-http", "--app", "x")
    assert code == 2
    assert "which subscription?" in err


def test_container_engine_without_a_daemon_exits_3(run: Run, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    code, _, err = run("--project-dir", PROJECTS / "v2-http", "--build", "local", "--engine",
                       "container", "--no-deploy", "--output-zip", tmp_path / "a.zip")
    assert code == 3
    assert "docker" in err.lower() and "hint:" in err
    assert not (tmp_path / "a.zip").exists()


@pytest.mark.parametrize(("argv", "said"), [
    (["--build", "cloud"], "azpublish: argument --build: invalid choice: 'cloud'"),
    (["--ap", "x"], "azpublish: unrecognized arguments: --ap x"),  # no abbreviations
    (["lock", "--upgrade-pack", "x"], "azpublish lock: unrecognized arguments"),
    (["lock", "--engine", "cloud"], "azpublish lock: argument --engine: invalid choice"),
    (["emulator", "start", "--prot", "1"], "azpublish emulator: unrecognized arguments: --prot"),
    (["emulator", "fault", "add", "nope"], "azpublish emulator fault add: argument kind"),
    (["emulator"], "azpublish emulator: the following arguments are required"),
])
def test_bad_usage_is_one_error_style_and_exit_2_in_every_command(
        run: Run, argv: list[str], said: str) -> None:
    code, out, err = run(*argv)
    assert code == 2
    assert out == ""
    command = said.split(":")[0]
    assert err.startswith("error: ") and said in err
    assert err.rstrip().endswith(f"hint: see {command} --help")


@pytest.mark.parametrize("command", [[], ["publish"], ["lock"], ["emulator"]])
def test_every_command_tells_its_version(command: list[str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from azpublish import __version__
    from azpublish.__main__ import main

    with pytest.raises(SystemExit) as done:
        main([*command, "--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"azpublish {__version__}\n"


def test_help_lists_the_commands_and_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    from azpublish.__main__ import main

    with pytest.raises(SystemExit):
        main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    for command in ("publish", "lock", "emulator"):
        assert f" {command} " in shown
    assert "one of: remote, local, custom" in shown
    assert "one of: auto, container, wheels" in shown


def test_publish_is_the_default_command(run: Run, tmp_path: Path) -> None:
    explicit, implicit = tmp_path / "explicit.zip", tmp_path / "implicit.zip"
    for command, dest in ((["publish"], explicit), ([], implicit)):
        code, _, err = run(*command, "--project-dir", PROJECTS / "v2-http", "--build", "custom",
                           "--no-deploy", "--output-zip", dest)
        assert code == 0, err
    assert explicit.read_bytes() == implicit.read_bytes()


def test_env_var_sets_options(run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZPUBLISH_PROJECT_DIR", str(PROJECTS / "v2-http"))
    monkeypatch.setenv("AZPUBLISH_NO_DEPLOY", "true")
    monkeypatch.setenv("AZPUBLISH_OUTPUT_ZIP", str(tmp_path / "env.zip"))
    code, _, err = run()
    assert code == 0, err
    assert (tmp_path / "env.zip").is_file()


def test_cwd_inside_the_app_is_found(run: Run, tmp_path: Path,
                                     project_copy: Callable[[str], Path],
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = project_copy("v1-shared")
    monkeypatch.chdir(root / "shared_code")
    code, out, _ = run("--list-included-files")
    assert code == 0
    assert "HttpTrigger/function.json" in out.splitlines()


def test_console_script_runs(tmp_path: Path) -> None:
    """The installed entry point, as a user runs it."""
    exe = Path(sys.executable).with_name("azpublish")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZPUBLISH_")}
    result = subprocess.run([str(exe), "--project-dir", str(PROJECTS / "bad-no-functions"),
                             "--no-deploy", "--output-zip", str(tmp_path / "x.zip")],
                            capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "hint:" in result.stderr


def test_custom_build_refuses_foreign_binaries_with_exit_3(
        run: Run, tmp_path: Path, project_copy: Callable[[str], Path]) -> None:
    from tests.binaries import macho, pe_image

    root = project_copy("v2-http")
    site = root / ".python_packages/lib/site-packages/fastthing"
    site.mkdir(parents=True)
    (site / "_speedups.cp311-win_amd64.pyd").write_bytes(pe_image())
    (site / "_core.cpython-311-darwin.so").write_bytes(macho())
    (site / "__init__.py").write_text("")
    dest = tmp_path / "app.zip"
    code, out, err = run("--project-dir", root, "--no-build", "--no-deploy", "--output-zip", dest,
                         "--json")
    assert code == 3
    assert "fastthing/_speedups.cp311-win_amd64.pyd" in err
    assert "fastthing/_core.cpython-311-darwin.so" in err
    assert "--build local" in err
    assert json.loads(out)["failed_stage"] == "build"
    assert not dest.exists()


def test_custom_build_refuses_extension_for_another_python(
        run: Run, tmp_path: Path, project_copy: Callable[[str], Path]) -> None:
    import shutil
    import sysconfig

    real = next(Path(sysconfig.get_paths()["purelib"]).rglob("*.cpython-311-x86_64-linux-gnu.so"))
    root = project_copy("v2-http")
    site = root / ".python_packages/lib/site-packages"
    site.mkdir(parents=True)
    shutil.copy(real, site / "ext.cpython-311-x86_64-linux-gnu.so")
    args = ("--project-dir", root, "--no-build", "--no-deploy", "--output-zip", tmp_path / "a.zip")
    assert run(*args)[0] == 0
    code, _, err = run(*args, "--python-version", "3.12")
    assert code == 3
    assert "ext.cpython-311-x86_64-linux-gnu.so" in err and "3.12" in err


def test_custom_build_packages_foreign_helpers_with_a_warning(
        run: Run, tmp_path: Path, project_copy: Callable[[str], Path]) -> None:
    from tests.binaries import CPU_TYPE_X86_64, EM_386, MH_DYLIB, elf_header, macho, pe_image

    root = project_copy("v2-http")
    attach = "debugpy/_vendored/pydevd/pydevd_attach_to_process"
    site = root / ".python_packages/lib/site-packages"
    (site / attach).mkdir(parents=True)
    (site / "debugpy/__init__.py").write_text("")
    (site / attach / "attach_amd64.dll").write_bytes(pe_image())
    (site / attach / "attach_x86_64.dylib").write_bytes(macho(CPU_TYPE_X86_64, filetype=MH_DYLIB))
    (site / attach / "attach_linux_x86.so").write_bytes(elf_header(EM_386, bits=32))
    dest = tmp_path / "app.zip"
    code, out, err = run("--project-dir", root, "--no-build", "--no-deploy", "--output-zip", dest,
                         "--json")
    assert code == 0, err
    names = zipfile.ZipFile(dest).namelist()
    assert f".python_packages/lib/site-packages/{attach}/attach_amd64.dll" in names
    report = json.loads(out)
    assert report["exit_code"] == 0
    (warning,) = [w for w in report["warnings"] if "packaged anyway" in w]
    assert warning.startswith("3 files in .python_packages/ will not load natively")
    assert f"lib/site-packages/{attach}/attach_amd64.dll: Windows PE binary" in warning
    assert f"lib/site-packages/{attach}/attach_linux_x86.so: 32-bit ELF for i386" in warning
    assert "never loaded by the Functions runtime unless your code loads them" in warning
    assert "warning: 3 files in .python_packages/" in err


def test_a_closed_pipe_ends_quietly_with_the_shells_status() -> None:
    """``azpublish --list-included-files | head -0``: the reader is gone before the listing."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "azpublish", "--project-dir",
                               str(PROJECTS / "v2-http"), "--list-included-files"],
                              stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120,
                              check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("hostile", "funcignore", "problem"), [
    ("a:b.py", "", "absolute"),  # a Windows unzip reads "a:" as a drive
    ("C:x", "", "absolute"),
    ("back\\slash.py", "", "backslash"),
    ("ok.py", "host.json\n", "no host.json"),
])
def test_listing_dry_run_and_packaging_refuse_the_same_trees(
        run: Run, tmp_path: Path, hostile: str, funcignore: str, problem: str) -> None:
    """One decision: what packaging refuses, the listings and the dry run refuse too, with the
    same exit code and message, and nothing is written."""
    root = tmp_path / "app"
    shutil.copytree(PROJECTS / "v2-http", root)
    (root / hostile).write_text("x")
    (root / ".funcignore").write_text(funcignore)
    dest = tmp_path / "app.zip"
    outcomes = []
    for flags in (["--list-included-files"], ["--list-ignored-files"], ["--dry-run"], []):
        code, out, err = run("--project-dir", root, "--no-deploy", "--output-zip", dest, *flags)
        outcomes.append((code, problem in err))
        assert out == "", flags  # not a partial listing
    assert outcomes == [(2, True)] * 4
    assert not dest.exists()


@pytest.mark.parametrize("stdout", ["full", "closed"])
def test_a_full_or_closed_stdout_is_exit_7_not_an_internal_error(tmp_path: Path,
                                                                 stdout: str) -> None:
    out = tmp_path / "app.zip"
    command = [sys.executable, "-m", "azpublish", "--project-dir", str(PROJECTS / "v2-http"),
               "--build", "custom", "--no-deploy", "--output-zip", str(out), "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZPUBLISH_")}
    if stdout == "full":
        with Path("/dev/full").open("w") as full:
            done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True,
                                  env=env, check=False)
    else:
        done = subprocess.run(["sh", "-c", 'exec 1>&-; exec "$@"', "sh", *command],
                              stderr=subprocess.PIPE, text=True, env=env, check=False)
    assert done.returncode == 7, done.stderr
    assert "could not write to stdout" in done.stderr
    assert "the run itself ended with exit code 0" in done.stderr
    assert "internal error" not in done.stderr
    assert out.is_file()  # the work was done; only its report could not be written


def test_a_credential_typed_into_requirements_is_warned_about_and_masked(
        run: Run, tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(PROJECTS / "v2-http", app)
    secret = "typed-in-token-4242"
    (app / "requirements.txt").write_text(
        f"--extra-index-url https://bob:{secret}@idx.test/simple\nazure-functions\n")
    code, out, err = run("--project-dir", app, "--build", "remote", "--no-deploy",
                         "--output-zip", tmp_path / "app.zip", "--json")
    assert code == 0, err
    assert "requirements.txt:1 holds a credential in a URL" in err
    assert "--pip-extra-index-url" in err
    assert secret not in out + err


def test_a_huge_sparse_file_is_named_before_it_is_packaged(run: Run, tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(PROJECTS / "v2-http", app)
    with (app / "disk.img").open("wb") as image:
        image.truncate(3 << 30)  # 3 GiB, almost nothing on disk
    code, _, err = run("--project-dir", app, "--build", "custom", "--dry-run", "--no-deploy")
    assert code == 0, err
    assert "disk.img is 3.0 GiB; it is sparse" in err and ".funcignore" in err


def test_quiet_keeps_warnings_and_errors_and_the_report(run: Run, tmp_path: Path) -> None:
    app = tmp_path / "app"
    shutil.copytree(PROJECTS / "v2-http", app)
    (app / "requirements.txt").write_text(
        "--extra-index-url https://bob:quiet-token-11@idx.test/simple\nazure-functions\n")
    code, out, err = run("--project-dir", app, "--build", "remote", "--no-deploy",
                         "--output-zip", tmp_path / "app.zip", "--json", "--quiet")
    assert code == 0, err
    assert "holds a credential in a URL" in err  # the warning stays
    assert "files into" not in err and "sha256 " not in err  # no progress lines
    assert json.loads(out)["package"]["file_count"] > 0  # the report is whole
    code, _, err = run("--project-dir", app, "--quiet", "--verbose", "--dry-run")
    assert code == 2 and "--quiet and --verbose are exclusive" in err
