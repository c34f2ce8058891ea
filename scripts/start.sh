#!/usr/bin/env bash
# Builds and starts Agentwerke on its embedded default: a SQLite file in ./data,
# the scripted (tokenless) model provider, development tokens for local use,
# and the "Hello SDLC" sample workflow. Safe to run again: data is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

export AGENTWERKE_DATA_DIR="${AGENTWERKE_DATA_DIR:-$PWD/data}"
export AGENTWERKE_BIND="${AGENTWERKE_BIND:-127.0.0.1:8080}"
export AGENTWERKE_AUTH__DEV__ENABLED="${AGENTWERKE_AUTH__DEV__ENABLED:-true}"

echo "==> building agentwerke (release; the first build takes about ten minutes on two cores)"
cargo build --release --locked -p agentwerke-cli
echo "==> starting; get a token with: ./target/release/agentwerke token --role Operator"
exec ./target/release/agentwerke serve "$@"
