#!/usr/bin/env bash
# What the building blocks of one served agent() call cost inside the
# sandbox (QuickJS compiled to WebAssembly, run by wasmtime), in µs per
# operation: (wall of a run doing N of them - wall of an empty loop) / N.
#
# Why it exists: a resumed or replayed call is served from the journal, so
# its cost is the guest's own work (the prelude's agent(), parallel()'s
# promises, JSON both ways) plus the host's. These figures are the floor
# the guest's part cannot go under without doing fewer of these operations
# per call; `benches/bench.sh` gives the whole per-call figure.
#
# Usage: benches/guest_ops.sh [N]   (default 20000 operations a figure)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}
cargo build --release --quiet
ODW=$PWD/target/release/odw
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export HOME=$work ODW_CACHE_DIR=$work/cache

# name, loop body (`i` counts, `n` collects so nothing is optimised away)
ops=(
  "empty loop|n += i;"
  "template string|n += \`item \${i}\`.length;"
  "object literal|n += ({ a: i, b: 2 }).a;"
  "new Error (4 frames)|Error.stackTraceLimit = 4; n += new Error().stack.length > 0;"
  "new Promise|new Promise((resolve) => { n += 1; });"
  "Promise.then|Promise.resolve(i).then((v) => { n += v; });"
  "async function call|(async () => { n += await i; })();"
  "JSON.stringify(string)|n += JSON.stringify(\`item \${i}\`).length;"
  "JSON.stringify(request)|n += JSON.stringify({ prompt: \`item \${i}\`, opts: {}, phase: null }).length;"
  "JSON.parse(completion)|n += JSON.parse('{\"id\":' + i + ',\"ok\":true,\"value\":\"ok\",\"usage\":{\"input\":2,\"output\":1},\"clock\":1764721570123}').id;"
)
# A slot of one parallel() of N thunks (not N parallel() calls of one).
slot="n = (await parallel(Array.from({ length: $N }, (_, j) => () => Promise.resolve(j)))).length;"

wall() { # ns of one `odw run` of $1
  local s e
  s=${EPOCHREALTIME/[.,]/}
  "$ODW" run "$1" --wait --runs-root "$work/runs" >/dev/null 2>&1
  e=${EPOCHREALTIME/[.,]/}
  echo $(( (e - s) * 1000 ))
}
best() { # the fastest of 5 runs, in ns: the least disturbed by the machine
  for _ in 1 2 3 4 5; do wall "$1"; done | sort -n | head -n 1
}

k=0
for op in "${ops[@]}"; do
  cat > "op$k.js" <<JS
export const meta = { name: 'op$k', description: '${op%%|*}' };
let n = 0;
for (let i = 0; i < $N; i++) { ${op#*|} }
return typeof n;
JS
  k=$((k + 1))
done
cat > "op$k.js" <<JS
export const meta = { name: 'op$k', description: 'parallel() slot' };
let n = 0;
$slot
return typeof n;
JS
ops+=("parallel() slot|")
"$ODW" run op0.js --wait --runs-root "$work/runs" >/dev/null 2>&1 # warm the caches

echo "odw $("$ODW" --version | cut -d' ' -f2): µs per operation in the sandbox, $N operations, best of 5"
base=$(best op0.js)
k=0
for op in "${ops[@]}"; do
  t=$(best "op$k.js")
  if [ "$k" = 0 ]; then
    awk -v t="$t" -v name="${op%%|*}" 'BEGIN { printf "%-26s %8.3f ms (the whole run, subtracted below)\n", name, t / 1e6 }'
  else
    awk -v t="$t" -v b="$base" -v n="$N" -v name="${op%%|*}" 'BEGIN { printf "%-26s %8.3f\n", name, (t - b) / n / 1000 }'
  fi
  k=$((k + 1))
done
