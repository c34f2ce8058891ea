#!/usr/bin/env bash
# Runs every check of the project: formatting, lints, and the whole test suite.
# Idempotent: installs what it needs on a fresh Debian machine, then tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
rustup component add rustfmt clippy >/dev/null 2>&1 || true

step "schemathesis (the OpenAPI conformance test drives it)"
# Pinned; keep equal to SCHEMATHESIS in crates/cli/tests/openapi_conformance.rs.
SCHEMATHESIS_VERSION=4.32.5
if [ "$(schemathesis --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq python3 python3-pip python3-venv >/dev/null
  fi
  python3 -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
    || python3 -m pip install --quiet --break-system-packages "schemathesis==$SCHEMATHESIS_VERSION"
fi
schemathesis --version

step "bubblewrap (the sandbox's escape tests run commands in it)"
if ! command -v bwrap >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null
fi
bwrap --version

step "chromium (the web UI's browser tests drive it over WebDriver)"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
chromedriver --version

step "format"
cargo fmt --all -- --check

step "lint"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  cargo test --workspace --doc --locked
else
  cargo test --workspace --locked --no-fail-fast
fi
