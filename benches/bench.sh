#!/usr/bin/env bash
# Speed figures for the closing notes, as medians and ratios (never as pass/fail
# timings in tests). Builds the release binary, then measures:
#   (a) `odw run --wait` of a one-agent workflow, process start to exit (warm cache)
#   (b) a 200-agent parallel() fan-out vs the same 200 processes started by a
#       plain shell loop (xargs -P) at the same concurrency
#   (c) cold start (empty guest cache: compiles the module) vs warm start
#   (d) resume of a fully journalled 1000-call run (echo adapter): wall time,
#       time per cached call, vs the live run; journal bytes per call
#   (e) workflow start: a script compiled from source vs started from its
#       module (odw build / the compile cache), end to end and in process
# Usage: benches/bench.sh [runs]   (default 21 runs for (a) and (c), 7 for (b))
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-21}
cargo build --release --quiet
ODW=$PWD/target/release/odw
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
C=8

cat > "$work/one.js" <<'JS'
export const meta = { name: 'bench-one', description: 'one agent' };
return await agent('hello');
JS
cat > "$work/fanout.js" <<'JS'
export const meta = { name: 'bench-fanout', description: '200 agents in parallel' };
const out = await parallel(Array.from({ length: 200 }, (_, i) => () => agent(`item ${i}`)));
return out.length;
JS
# The agent both sides run: reads its prompt, answers.
cat > "$work/agent.sh" <<'SH'
cat > /dev/null; echo ok
SH
cat > "$work/odw.config.json" <<JSON
{ "concurrency": $C, "adapters": { "sh": { "command": ["sh", "$work/agent.sh"] } } }
JSON

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m/1e6}'; }
odw() { (cd "$work" && HOME=$work ODW_CACHE_DIR=$1 "$ODW" run "$2" --wait --runs-root "$work/runs" --adapter "$3" >/dev/null 2>&1); }

# Warm the cache once.
odw "$work/cache" one.js echo

times() { for _ in $(seq "$1"); do s=$(now); "${@:2}"; e=$(now); echo $((e - s)); done; }

a=$(times "$N" odw "$work/cache" one.js echo | median)
cold=$(times 5 bash -c "rm -rf '$work/cold'; cd '$work' && HOME='$work' ODW_CACHE_DIR='$work/cold' '$ODW' run one.js --wait --runs-root '$work/runs' >/dev/null 2>&1" | median)

runs_b=$(( N < 7 ? N : 7 ))
odw_fan=$(times "$runs_b" odw "$work/cache" fanout.js sh | median)
shell_fan=$(times "$runs_b" bash -c "seq 200 | xargs -P $C -I{} sh -c 'echo item {} | sh $work/agent.sh >/dev/null'" | median)

cat > "$work/thousand.js" <<'JS'
export const meta = { name: 'bench-thousand', description: '1000 agents' };
return (await parallel(Array.from({ length: 1000 }, (_, i) => () => agent(`item ${i}`)))).length;
JS
live_one() { (cd "$work" && HOME=$work ODW_CACHE_DIR=$work/cache "$ODW" run thousand.js --wait --runs-root "$work/runs" --adapter "$1" 2>&1 >/dev/null | sed -n 's/^odw: run \([^ ]*\) .*/\1/p'); }
s=$(now); r1=$(live_one echo); e=$(now); live_echo=$(( (e - s) / 1000 ))
s=$(now); live_one sh >/dev/null; e=$(now); live_sh=$(( (e - s) / 1000 ))
resume=$(times "$runs_b" bash -c "cd '$work' && HOME='$work' ODW_CACHE_DIR='$work/cache' '$ODW' run thousand.js --wait --runs-root '$work/runs' --adapter echo --resume-from $r1 >/dev/null 2>&1" | median)
bytes=$(du -sb "$work/runs/bench-thousand/$r1/journal" | cut -f1)

cp examples/deep-research.js "$work/deep.js"
(cd "$work" && HOME=$work ODW_CACHE_DIR=$work/cache "$ODW" build deep.js -o deep.wasm >/dev/null 2>&1)
deep() { (cd "$work" && HOME=$work ODW_CACHE_DIR=$work/cache "$ODW" run "$1" --wait --runs-root "$work/runs" --adapter echo --args '{"question": "tides"}' >/dev/null 2>&1); }
e_source=$(times "$N" bash -c "rm -rf '$work/cache/scripts'; cd '$work' && HOME='$work' ODW_CACHE_DIR='$work/cache' '$ODW' run deep.js --wait --runs-root '$work/runs' --adapter echo --args '{\"question\": \"tides\"}' >/dev/null 2>&1" | median)
deep deep.js
e_cached=$(times "$N" deep deep.js | median)
e_module=$(times "$N" deep deep.wasm | median)
# criterion's estimate (the middle figure of `time: [low est high]`), in ms.
# Units other than s, ms and ns are microseconds (kept out of the awk program,
# which some awks read as ASCII only).
estimate() { awk -v name="$1" '$0 ~ name {f=1} f && /time:/ {v=$4; u=$5; if (u=="s") v*=1000; else if (u=="ns") v/=1e6; else if (u!="ms") v/=1000; print v; exit}'; }
criterion=$(cargo bench --quiet --bench start -- --noplot 2>/dev/null)
in_source=$(echo "$criterion" | estimate "from source")
in_module=$(echo "$criterion" | estimate "from its module")

echo "(a) odw run --wait, one agent, warm:        median ${a} ms   (target < 30 ms)"
echo "(b) 200-agent fan-out, concurrency $C:       odw ${odw_fan} ms vs shell ${shell_fan} ms   ratio $(awk "BEGIN{printf \"%.3f\", $odw_fan/$shell_fan}")   (target <= 1.10)"
echo "(d) resume of 1000 journalled calls:     median ${resume} ms ($(awk "BEGIN{printf \"%.1f\", $resume*1000/1000}") µs per cached call)"
echo "    live run: echo $(awk "BEGIN{printf \"%.0f\", $live_echo/1000}") ms (ratio $(awk "BEGIN{printf \"%.1f\", $live_echo/1000/$resume}")x), sh agents $(awk "BEGIN{printf \"%.0f\", $live_sh/1000}") ms (ratio $(awk "BEGIN{printf \"%.1f\", $live_sh/1000/$resume}")x); journal $(( bytes / 1000 )) bytes per call"
echo "(c) start, cold (compiles guest) vs warm:   ${cold} ms vs ${a} ms   ratio $(awk "BEGIN{printf \"%.1f\", $cold/$a}")"
echo "(e) start of deep-research.js, end to end: compiled ${e_source} ms, cached ${e_cached} ms, module ${e_module} ms   ratio $(awk "BEGIN{printf \"%.2f\", $e_module/$e_source}")"
echo "    in process (criterion): from source ${in_source} ms vs from its module ${in_module} ms   ratio $(awk "BEGIN{printf \"%.2f\", $in_module/$in_source}")"
