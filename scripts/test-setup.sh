#!/usr/bin/env bash
# Everything `make test` needs besides .venv (which make creates first), set up on a fresh Debian
# machine: the command-line tools the tests call, a Docker engine with the registry-free base
# images and the two build images, the Azure Pipelines task's pinned npm packages, and the
# package mirror the tests install from (tests/package_mirror.py). This is the only place where
# a package client reaches a registry: during the tests nothing leaves loopback.
#
# Idempotent and cached: a step whose result is already there is skipped, so a second run takes
# about a second. A step that cannot be done here (not root, no apt-get, dockerd not allowed to
# start, no node) is reported with what is missing and the command that would fix it:
#   - with CI=true the script then exits 1, so `make test` stops before running tests;
#   - otherwise it exits 0, the tests that need the missing piece are skipped with that reason,
#     and `make test` (pytest --require-all) ends with a summary of them and a non-zero exit.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${VENV_PYTHON:-.venv/bin/python}

started=$SECONDS
missing=()  # "what: fix" lines, printed at the end

say() { echo "test-setup: $*"; }
miss() {  # what fix
  missing+=("$1 -- fix: $2")
  say "MISSING $1"
}
is_root() { [ "$(id -u)" -eq 0 ]; }

apt_updated=0
apt_install() {  # packages...
  if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq || return 1
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# -- 1. command-line tools the tests call ---------------------------------------------------------
# Info-ZIP (zip/unzip) reads our packages back; readelf, file, gcc and llvm-mc make and inspect
# the foreign binaries of the audit tests; git is the parity tests' referee.
declare -A package_of=([zip]=zip [unzip]=unzip [readelf]=binutils [file]=file [gcc]=gcc
                       [llvm-mc]=llvm [git]=git)
tools_missing=()
for tool in zip unzip readelf file gcc llvm-mc git; do
  command -v "$tool" >/dev/null 2>&1 || tools_missing+=("$tool")
done
if [ ${#tools_missing[@]} -eq 0 ]; then
  say "tools: present"
else
  packages=$(for t in "${tools_missing[@]}"; do echo "${package_of[$t]}"; done | sort -u | xargs)
  say "tools: installing $packages (for ${tools_missing[*]})"
  apt_install $packages || miss "tools ${tools_missing[*]}" "sudo apt-get install $packages"
fi

# -- 1b. name resolution of the emulator's App Service host names -------------------------------
# *.azurewebsites.localhost must resolve to loopback (glibc's myhostname NSS module answers any
# *.localhost name so), or the emulator falls back to path-prefixed URLs and the host-name tests
# cannot run.
probe=management.azurewebsites.localhost
if getent ahosts "$probe" >/dev/null 2>&1; then
  say "names: *.localhost resolves"
else
  say "names: installing libnss-myhostname and adding myhostname to /etc/nsswitch.conf"
  if ! dpkg -s libnss-myhostname >/dev/null 2>&1; then
    apt_install libnss-myhostname || true
  fi
  if is_root && [ -w /etc/nsswitch.conf ] && ! grep -Eq '^hosts:.*\bmyhostname\b' /etc/nsswitch.conf; then
    # Before dns, so no *.localhost question ever leaves the machine.
    sed -i -E 's/^(hosts:[[:space:]]+files)/\1 myhostname/; t; s/^(hosts:[[:space:]]+)/\1myhostname /' \
      /etc/nsswitch.conf
  fi
  getent ahosts "$probe" >/dev/null 2>&1 ||
    miss "*.localhost names resolving to loopback" \
         "sudo apt-get install libnss-myhostname, then put 'myhostname' after 'files' in the hosts: line of /etc/nsswitch.conf"
fi

# -- 2. Docker engine, daemon and base images -----------------------------------------------------
if docker info >/dev/null 2>&1 && docker image inspect azpublish/base:bookworm \
     azpublish/base:trixie >/dev/null 2>&1; then
  say "docker: daemon answers, base images present"
elif ! is_root; then
  miss "a running Docker engine with the base images" "sudo bash scripts/provision-docker.sh"
elif ! bash scripts/provision-docker.sh; then
  miss "a running Docker engine with the base images (provisioning failed, output above)" \
       "sudo bash scripts/provision-docker.sh"
fi

# -- 3. the package mirror and the build images -------------------------------------------------
if ! "$PYTHON" -m tests.package_mirror populate; then
  miss "the test package mirror (.cache/test-index)" "$PYTHON -m tests.package_mirror populate"
fi
if docker info >/dev/null 2>&1; then
  if ! "$PYTHON" -m tests.integration.docker_support; then
    miss "the build images for Python 3.11 and 3.13" "$PYTHON -m tests.integration.docker_support"
  fi
fi

# -- 4. the Azure Pipelines task's npm packages ---------------------------------------------------
task=integrations/azure-pipelines
stamp=$task/node_modules/.azpublish-lock.sha256
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  miss "node and npm (the Azure Pipelines task's tests run in node)" "sudo apt-get install nodejs npm"
else
  lock_sum=$(sha256sum "$task/package-lock.json" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
    say "pipelines task: node_modules match package-lock.json"
  elif npm ci --prefix "$task" --no-audit --no-fund --loglevel=error >/dev/null; then
    echo "$lock_sum" >"$stamp"
    say "pipelines task: installed node_modules from package-lock.json"
  else
    miss "the Azure Pipelines task's node_modules" "npm ci --prefix $task"
  fi
fi

# -- 5. the Azure CLI, a real client the emulator must serve unchanged ----------------------------
cli_pins=tests/clients/azure-cli.txt
cli_venv=.cache/azure-cli
cli_stamp=$cli_venv/.azpublish-pins.sha256
pins_sum=$(sha256sum "$cli_pins" | cut -d' ' -f1)
if [ -x "$cli_venv/bin/az" ] && [ -f "$cli_stamp" ] && [ "$(cat "$cli_stamp")" = "$pins_sum" ]; then
  say "azure cli: present ($(grep -E '^azure-cli==' "$cli_pins"))"
else
  say "azure cli: installing $(grep -E '^azure-cli==' "$cli_pins") into $cli_venv (a few minutes, once)"
  rm -rf "$cli_venv"
  if python3 -m venv "$cli_venv" && "$cli_venv/bin/pip" install -q --disable-pip-version-check \
       -r "$cli_pins" >"$cli_venv.log" 2>&1; then
    echo "$pins_sum" >"$cli_stamp"
  else
    tail -5 "$cli_venv.log" >&2
    miss "the Azure CLI in $cli_venv" "python3 -m venv $cli_venv && $cli_venv/bin/pip install -r $cli_pins"
  fi
fi

# -- 6. the newest git, the parity tests' second referee ------------------------------------------
# The machine's git (Debian stable's) predates git 2.52, which changed what "foo**/bar" means, so
# the parity tests also run against the newest git Debian has (its unstable suite), fetched with
# the machine's own apt configuration into a private apt state and unpacked with the C library
# it was built against into .cache/git-newest: nothing is installed on the system.
newest_git=.cache/git-newest
fetch_newest_git() {  # target folder
  local target=$1 work mirror
  work=$(mktemp -d) || return 1
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null | head -1)
  [ -n "$mirror" ] || { rm -rf "$work"; return 1; }
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror unstable main" \
    >"$work/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/nonexistent
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache"
              -o APT::Sandbox::User=root)
  if apt-get "${opts[@]}" -qq update >/dev/null 2>&1 &&
     (cd "$work/debs" && apt-get "${opts[@]}" -qq download git/unstable libc6/unstable \
        libpcre2-8-0/unstable zlib1g/unstable >/dev/null 2>&1); then
    for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root" || return 1; done
    local loader
    loader=$(find "$work/root" -name 'ld-linux*.so.*' -type f | head -1)
    rm -rf "$target" && mkdir -p "$target/bin" && mv "$work/root" "$target/root"
    loader=$target/root/${loader#"$work/root/"}
    cat >"$target/bin/git" <<WRAPPER
#!/bin/sh
# git from Debian unstable, run with the C library it was built against (test-setup.sh step 6)
root=\$(cd "\$(dirname "\$0")/../root" && pwd)
export GIT_EXEC_PATH="\$root/usr/lib/git-core" GIT_TEMPLATE_DIR="\$root/usr/share/git-core/templates"
exec "\$root/${loader#"$target/root/"}" --library-path "\$root/$(dirname "${loader#"$target/root/"}")" "\$root/usr/bin/git" "\$@"
WRAPPER
    chmod +x "$target/bin/git"
    rm -rf "$work"
    "$target/bin/git" --version >/dev/null 2>&1
  else
    rm -rf "$work"
    return 1
  fi
}
if [ -x "$newest_git/bin/git" ] && "$newest_git/bin/git" --version >/dev/null 2>&1; then
  say "newest git: present ($("$newest_git/bin/git" --version))"
elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 &&
     [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] && fetch_newest_git "$newest_git"; then
  say "newest git: $("$newest_git/bin/git" --version), unpacked into $newest_git"
else
  miss "the newest git in $newest_git (Debian unstable's, for the parity tests)" \
       "run scripts/test-setup.sh on a Debian machine whose apt can reach its mirror"
fi

# -- summary -----------------------------------------------------------------------------------
if [ ${#missing[@]} -eq 0 ]; then
  say "ready in $((SECONDS - started))s"
  exit 0
fi
{
  echo "test-setup: could not set up ${#missing[@]} thing(s) the tests need:"
  for line in "${missing[@]}"; do echo "  - $line"; done
} >&2
if [ "${CI:-}" = "true" ]; then
  echo "test-setup: CI=true, so this is a failure" >&2
  exit 1
fi
echo "test-setup: the tests that need them will not run, and make test will exit non-zero" >&2
exit 0
