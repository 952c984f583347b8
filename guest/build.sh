#!/usr/bin/env bash
# Rebuilds guest/odw_guest.wasm from source and records the source hash beside it
# (odw_guest.wasm.source), which a test compares so that nobody ships a stale guest.
#
#   guest/build.sh            rebuild and update the committed files
#   guest/build.sh --check    rebuild into target/ and fail if the committed files differ
#
# Needs (once, as root): rustup target add wasm32-wasip1;
#   apt-get install -y --no-install-recommends clang wasi-libc
set -euo pipefail
cd "$(dirname "$0")"

# rquickjs-sys wants a wasi-sdk; Debian's clang 14 + wasi-libc do the job through a
# folder of symlinks (docs/design.md §7). Made here, never committed.
shim=wasi-sdk-shim
mkdir -p "$shim/bin" "$shim/share/wasi-sysroot/lib"
ln -sfn /usr/bin/clang "$shim/bin/clang"
ln -sfn /usr/bin/ar "$shim/bin/ar"
ln -sfn /usr/include/wasm32-wasi "$shim/share/wasi-sysroot/include"
ln -sfn /usr/lib/wasm32-wasi "$shim/share/wasi-sysroot/lib/wasm32-wasi"

# The hash of everything the guest is built from; engine/src/sandbox/guest.rs
# computes the same listing in its staleness test.
source_hash() {
  { printf '%s\n' Cargo.toml Cargo.lock .cargo/config.toml; find src -type f; } \
    | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
}

cargo build --release --locked
built=target/wasm32-wasip1/release/odw_guest.wasm
if [ "${1:-}" = "--check" ]; then
  if ! cmp -s "$built" odw_guest.wasm; then
    echo "guest/odw_guest.wasm is stale: run guest/build.sh and commit the result" >&2
    exit 1
  fi
  [ "$(source_hash)" = "$(cat odw_guest.wasm.source)" ] || {
    echo "guest/odw_guest.wasm.source is stale: run guest/build.sh" >&2; exit 1; }
  echo "guest is up to date"
else
  cp "$built" odw_guest.wasm
  source_hash > odw_guest.wasm.source
  echo "guest/odw_guest.wasm: $(wc -c < odw_guest.wasm) bytes, source $(cat odw_guest.wasm.source)"
fi
