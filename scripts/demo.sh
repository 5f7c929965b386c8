#!/usr/bin/env bash
# `make demo`: publish examples/hello to a local App Service emulator with a remote build, call
# the function it serves, and stop the emulator. Needs no Azure account and no docker.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
app=hello-demo
state=$(mktemp -d "${TMPDIR:-/tmp}/azpublish-demo.XXXXXX")

"$bin/azpublish" emulator start --state-dir "$state" >"$state/emulator.out" 2>&1 &
emulator=$!
cleanup() {
  kill -TERM "$emulator" 2>/dev/null && wait "$emulator" 2>/dev/null
  rm -rf "$state"
}
trap cleanup EXIT

for _ in $(seq 300); do  # at most 30 s
  [ -f "$state/endpoint.json" ] && break
  kill -0 "$emulator" 2>/dev/null || { cat "$state/emulator.out"; exit 1; }
  sleep 0.1
done
[ -f "$state/endpoint.json" ] || { echo "the emulator did not start" >&2; exit 1; }
head -n 1 "$state/emulator.out"

eval "$("$bin/azpublish" emulator env --state-dir "$state")"
"$bin/azpublish" emulator create-app "$app" --python 3.11 --plan premium --state-dir "$state" >/dev/null
echo "created app $app (premium plan, Python 3.11)"

echo "\$ azpublish --project-dir examples/hello --app $app --build remote"
"$bin/azpublish" --project-dir examples/hello --app "$app" --build remote --json \
  >"$state/report.json"

url=$("$bin/python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["functions"][0]["invoke_url"])' "$state/report.json")
echo "\$ curl '$url?name=demo'"
curl --fail --silent --show-error --cacert "$AZPUBLISH_CA_BUNDLE" "$url?name=demo"
echo
