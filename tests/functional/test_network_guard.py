"""The suite's tripwire (tests/network_guard.py) refuses and records traffic off loopback.

Each case runs in a network namespace of its own that has only a loopback interface, so even a
broken guard could not send a packet anywhere: what is checked is that the guard refuses before
the kernel is asked, records what was refused, and catches subprocesses through its proxy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = r'''
import json, socket, subprocess, sys, urllib.error, urllib.request
from tests.network_guard import NetworkGuard, OffLoopbackError

guard = NetworkGuard()
env = guard.install()
outcome = {}
try:
    socket.create_connection(("192.0.2.1", 9), timeout=1)
except OffLoopbackError:
    outcome["connect"] = "refused"
try:
    socket.getaddrinfo("packages.example.invalid", 443)
except socket.gaierror:
    outcome["lookup"] = "refused"
server = socket.create_server(("127.0.0.1", 0))
socket.create_connection(server.getsockname(), timeout=1).close()
outcome["loopback"] = "allowed"
child = ("import urllib.request, urllib.error\n"
         "try:\n"
         "    urllib.request.urlopen('http://reader:hunter2-secret@packages.example.invalid'\n"
         "                           '/simple/', timeout=5)\n"
         "except urllib.error.HTTPError as error:\n"
         "    print(error.code)\n")
outcome["child"] = subprocess.run([sys.executable, "-c", child], env=env, text=True,
                                  capture_output=True, timeout=30).stdout.strip()
outcome["recorded"] = guard.take()
guard.uninstall()
print(json.dumps(outcome))
'''


def _isolated_network() -> list[str]:
    unshare = shutil.which("unshare")
    ip = shutil.which("ip")
    assert unshare and ip, "util-linux's unshare and iproute2's ip are needed"
    user = [] if os.geteuid() == 0 else ["--map-root-user"]
    return [unshare, "--net", *user, "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh"]


def test_the_guard_refuses_and_records_what_would_leave_loopback() -> None:
    environment = {key: value for key, value in os.environ.items()
                   if "proxy" not in key.lower()}
    done = subprocess.run([*_isolated_network(), sys.executable, "-c", PROBE], cwd=REPO,
                          env=environment, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["connect"] == "refused"
    assert outcome["lookup"] == "refused"
    assert outcome["loopback"] == "allowed"
    assert outcome["child"] == "403"  # the child's request met the tripwire proxy
    recorded = outcome["recorded"]
    assert recorded[0] == "a connection to 192.0.2.1:9"
    assert recorded[1] == "a name lookup of packages.example.invalid"
    assert recorded[2].startswith("a proxied request from a subprocess: GET "
                                  "http://***@packages.example.invalid/simple/")
    assert len(recorded) == 3
    assert "hunter2-secret" not in " ".join(recorded)  # a refused URL's secrets are not shown


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "::1", "localhost",
                                  "app.scm.localhost"])
def test_loopback_names_and_addresses_are_local(host: str) -> None:
    from tests.network_guard import NetworkGuard

    assert NetworkGuard().name_is_local(host)


@pytest.mark.parametrize("host", ["169.254.169.254", "10.0.0.1", "192.0.2.1", "2001:db8::1",
                                  "login.example.invalid"])
def test_everything_else_is_not(host: str) -> None:
    from tests.network_guard import NetworkGuard

    assert not NetworkGuard().name_is_local(host)
