# odw: one SLURM job's own clone of the project (executor `workspace: "clone"`).
# Run by `sh -c` on the node as: clone.sh REPO SUBDIR PATCH AGENT-ARGV...
# The agent works in a fresh clone in $TMPDIR; what it changed is written to
# PATCH (the run's patches/<index>.patch, on the shared filesystem) and the
# clone is removed. Only the agent's stdout is the job's stdout: git's own
# output goes to stderr. The agent's exit status is the job's.
set -u
repo=$1 sub=$2 patch=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/odw-clone.XXXXXX") || exit 70
trap 'rm -rf "$work"' EXIT
git clone --quiet "$repo" "$work/repo" </dev/null >&2 || exit 70
mkdir -p "$work/repo/$sub" && cd "$work/repo/$sub" || exit 70
"$@"
status=$?
git -C "$work/repo" add --all </dev/null >&2
if ! git -C "$work/repo" diff --cached --quiet </dev/null; then
  mkdir -p "$(dirname "$patch")" &&
    git -C "$work/repo" diff --cached --binary </dev/null >"$patch.part" &&
    mv "$patch.part" "$patch"
fi
exit $status
