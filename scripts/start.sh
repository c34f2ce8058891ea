#!/usr/bin/env bash
# Builds and starts Agentwerke on its embedded default: a SQLite file in ./data,
# the scripted (tokenless) model provider, development tokens for local use,
# the "Hello SDLC" sample workflow, and the built-in sandbox (bubblewrap) for
# exec.run. Safe to run again: data is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

export AGENTWERKE_DATA_DIR="${AGENTWERKE_DATA_DIR:-$PWD/data}"
export AGENTWERKE_BIND="${AGENTWERKE_BIND:-127.0.0.1:8080}"
export AGENTWERKE_AUTH__DEV__ENABLED="${AGENTWERKE_AUTH__DEV__ENABLED:-true}"

if ! command -v bwrap >/dev/null 2>&1; then
  echo "==> installing bubblewrap (the sandbox exec.run runs commands in)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq bubblewrap >/dev/null
  fi
fi

echo "==> building agentwerke (release; the first build takes about ten minutes on two cores)"
cargo build --release --locked -p agentwerke-cli
echo "==> starting; get a token with: ./target/release/agentwerke token --role Operator"
exec ./target/release/agentwerke serve "$@"
