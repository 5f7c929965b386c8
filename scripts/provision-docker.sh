#!/usr/bin/env bash
# Makes the docker integration tests runnable on a fresh Debian machine where we are root:
#   1. Docker's engine from Debian's packages (docker.io) when dockerd is missing;
#   2. a running daemon (dockerd --iptables=false --bridge=none; containers use --network host);
#   3. the base images azpublish/base:bookworm (Python 3.11) and azpublish/base:trixie
#      (Python 3.13), debootstrapped from the mirror apt already uses and `docker import`ed,
#      because no container registry is reachable.
# Idempotent: every step is skipped when already done, so a second run takes about a second.
set -euo pipefail

started=$SECONDS
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/azpublish-dockerd.log}
DAEMON_WAIT=${DAEMON_WAIT:-60}  # seconds
RELEASES=(bookworm trixie)

say() { echo "provision-docker: $*"; }
die() { echo "provision-docker: error: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts dockerd)"

apt_updated=0
apt_install() {  # packages...
  if [ "$apt_updated" -eq 0 ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# -- 1. engine -----------------------------------------------------------------------------------
if command -v dockerd >/dev/null 2>&1; then
  say "dockerd present ($(command -v dockerd))"
else
  say "installing docker.io (Debian's Docker engine)"
  apt_install docker.io
fi
# docker.io ships its own CLI; a newer one already on PATH (e.g. /usr/local/bin) keeps working
# because it negotiates the API version down.
command -v docker >/dev/null 2>&1 || die "no docker CLI on PATH after installing docker.io"

# -- 2. daemon -----------------------------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  say "a docker daemon already answers"
else
  say "starting dockerd (log: $DOCKERD_LOG)"
  # setsid: the daemon must outlive this script and the CI step that ran it.
  setsid nohup dockerd --iptables=false --bridge=none >>"$DOCKERD_LOG" 2>&1 </dev/null &
  deadline=$((SECONDS + DAEMON_WAIT))
  until docker info >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not answer within ${DAEMON_WAIT}s (log above)"
    fi
    sleep 0.5
  done
  say "dockerd is up"
fi

# -- 3. base images ------------------------------------------------------------------------------
# The Debian archive URI apt is configured with (deb822 .sources or one-line sources.list), read
# at run time so no host name is written down here. The security archive is skipped.
debian_mirror() {
  local uri
  uri=$(
    {
      for f in /etc/apt/sources.list.d/*.sources; do
        [ -e "$f" ] && awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f"
      done
      for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' "$f"
      done
    } | grep -v -- '-security' | grep -E '/debian/?$' | head -n 1
  )
  [ -n "$uri" ] || die "no Debian archive found in /etc/apt/sources.list(.d); set DEBIAN_MIRROR"
  echo "${uri%/}"
}

need_images=()
for release in "${RELEASES[@]}"; do
  if docker image inspect "azpublish/base:$release" >/dev/null 2>&1; then
    say "image azpublish/base:$release exists"
  else
    need_images+=("$release")
  fi
done

if [ ${#need_images[@]} -gt 0 ]; then
  command -v debootstrap >/dev/null 2>&1 || { say "installing debootstrap"; apt_install debootstrap; }
  mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
  say "Debian mirror from apt's configuration: $mirror"
  work=$(mktemp -d /var/tmp/azpublish-debootstrap.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  build_image() {  # release
    local release=$1 root="$work/$1" t0=$SECONDS
    debootstrap --variant=minbase "$release" "$root" "$mirror" >"$work/$release.log" 2>&1 || {
      tail -n 30 "$work/$release.log" >&2; return 1; }
    # apt inside the image uses the same mirror (reachable with --network host).
    printf 'deb %s %s main\n' "$mirror" "$release" >"$root/etc/apt/sources.list"
    # Keep the image small and apt quiet, as the official Debian images do.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*
    tar --numeric-owner -C "$root" -c . |
      docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "azpublish/base:$release" >/dev/null
    echo "azpublish/base:$release built in $((SECONDS - t0))s"
  }
  # Both releases in parallel: debootstrap mostly waits on downloads and dpkg.
  pids=()
  for release in "${need_images[@]}"; do
    build_image "$release" >"$work/$release.out" 2>&1 &
    pids+=($!)
  done
  failed=0
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then
      say "$(cat "$work/${need_images[$i]}.out")"
    else
      cat "$work/${need_images[$i]}.out" >&2
      echo "provision-docker: error: building azpublish/base:${need_images[$i]} failed" >&2
      failed=1
    fi
  done
  [ "$failed" -eq 0 ] || exit 1
fi

say "done in $((SECONDS - started))s"
