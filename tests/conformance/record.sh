#!/bin/bash
# record.sh [CASE...] -- re-record the goldens of the conformance corpus with Claude Code's own
# Workflow runtime (cc-oracle's run_one.sh). Run it when a new Claude Code version comes out, then
# review the diff of golden/ and update README's difference table / the cases' @odw lines.
#
# Each cases/NAME.js may start with directive comments:
#   // @args JSON          args for the run
#   // @workflow NAME      workflows/NAME.js is the callee of workflow('NAME')
#   // @agent-type NAME    an agent definition stub for agentType NAME
#   // @compare logs       the test also compares the log lines
#   // @multiset           the (array) result is compared without order
#   // @odw JSON           odw's intentional difference: the value odw gives (see README)
# Writes golden/NAME.json: {outcome, agents, logs, result | error} (canonical JSON, keys sorted).
# Env: ORACLE (folder of run_one.sh; default /work/shared/tools/cc-oracle), CLAUDE_BIN (required).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ORACLE=${ORACLE:-/work/shared/tools/cc-oracle}
[[ -x $ORACLE/run_one.sh ]] || { echo "record.sh: no run_one.sh in $ORACLE (set ORACLE)" >&2; exit 2; }
if (( $# )); then NAMES=("$@"); else NAMES=(); for f in "$HERE"/cases/*.js; do NAMES+=("$(basename "$f" .js)"); done; fi
fail=0
for name in "${NAMES[@]}"; do
  js=$HERE/cases/$name.js
  [[ -f $js ]] || { echo "record.sh: no case $name" >&2; fail=1; continue; }
  opts=()
  a=$(sed -n 's|^// @args ||p' "$js" | head -1); [[ -n $a ]] && opts+=(-a "$a")
  for w in $(sed -n 's|^// @workflow ||p' "$js"); do opts+=(-w "$HERE/workflows/$w.js"); done
  for t in $(sed -n 's|^// @agent-type ||p' "$js"); do opts+=(-t "$t"); done
  if rec=$("$ORACLE/run_one.sh" -r "${opts[@]}" "$js"); then
    printf '%s' "$rec" | python3 -c 'import json,sys; r=json.load(sys.stdin); r.pop("cli_rc",None); print(json.dumps(r,sort_keys=True,ensure_ascii=False,indent=1))' > "$HERE/golden/$name.json"
    echo "$name: $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["outcome"], r.get("agents"))' "$HERE/golden/$name.json")"
  else
    echo "record.sh: $name: run_one.sh failed" >&2; fail=1
  fi
done
exit $fail
