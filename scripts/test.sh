#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the tests need, then runs them.
#   scripts/test.sh            # everything
#   scripts/test.sh lab        # extra args go to `cargo test`
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v git >/dev/null 2>&1 || need+=(git)
# the macOS-shaped lab node (tests/common/macos.rs): zsh login shell, dash as sh, unshare
command -v zsh >/dev/null 2>&1 || need+=(zsh)
command -v dash >/dev/null 2>&1 || need+=(dash)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v perl >/dev/null 2>&1 || need+=(perl)    # a prewarm that grows past its memory cap (lab_macpath)
command -v ps >/dev/null 2>&1 || need+=(procps)   # the prewarm watchdog samples ps; tests use pgrep
# tests/real_openclaw.rs installs the real OpenClaw CLI (Node 24 + openclaw, ~1 GB) from
# the npm registry into target/openclaw-cache (or $MESHROLL_OPENCLAW_CACHE) once
[ -f "${MESHROLL_OPENCLAW_CACHE:-target/openclaw-cache}/.meshroll-install-ok" ] \
  || command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  echo "test.sh: installing ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
    || { $sudo apt-get update >/dev/null && $sudo apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
fi

# Benches are compiled (so they cannot rot) but not run: they take minutes and their
# numbers belong in BENCHMARKS.md, not in a pass/fail.
cargo build --all-targets
cargo test --lib --bins --tests "$@"
