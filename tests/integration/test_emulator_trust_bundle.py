"""`azpublish emulator env` points REQUESTS_CA_BUNDLE at the machine's roots plus the emulator's
CA: pip in the same shell still reaches a real HTTPS index (here a local one whose CA stands in
for the system's roots, through SSL_CERT_FILE), which the CA alone would refuse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from azpublish.emulator.layout import StateLayout
from azpublish.emulator.tls import ensure_certificates
from tests.integration.conftest import RunningEmulator
from tests.integration.pypi_index import PrivateIndex

pytestmark = pytest.mark.integration


def pip_download(index: PrivateIndex, bundle: Path, dest: Path
                 ) -> subprocess.CompletedProcess[str]:
    """pip trusting ``bundle`` alone, as in a shell where REQUESTS_CA_BUNDLE is exported."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("PIP_")
           and name not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.url_with_credentials,
               REQUESTS_CA_BUNDLE=str(bundle), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_CACHE_DIR="1", PIP_RETRIES="0")
    return subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(dest),
                           f"{index.package_name}=={index.version}"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_pip_in_an_emulator_shell_still_reaches_other_https_hosts(
        private_index: PrivateIndex, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", private_index.ca_cert)  # "the system's roots"
    files = ensure_certificates(StateLayout(tmp_path / "state"))
    combined = pip_download(private_index, files.trust_bundle, tmp_path / "a")
    assert combined.returncode == 0, combined.stderr
    assert list((tmp_path / "a").glob("*.whl"))
    alone = pip_download(private_index, files.ca_cert, tmp_path / "b")  # what was exported
    assert alone.returncode != 0
    assert "CERTIFICATE_VERIFY_FAILED" in alone.stdout + alone.stderr
    assert files.trust_bundle.read_bytes().endswith(files.ca_cert.read_bytes())


def test_the_running_emulators_env_exports_the_combined_bundle(emulator: RunningEmulator
                                                               ) -> None:
    bundle = Path(emulator.env()["REQUESTS_CA_BUNDLE"])
    ca = Path(emulator.env()["AZPUBLISH_CA_BUNDLE"]).read_bytes()
    text = bundle.read_bytes()
    assert text.endswith(ca) and text.count(b"BEGIN CERTIFICATE") > 1
    answer = requests.get(f"{emulator.arm_endpoint}/metadata/endpoints",
                          params={"api-version": "2022-09-01"}, verify=str(bundle), timeout=30)
    assert answer.status_code == 200
