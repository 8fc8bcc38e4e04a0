#!/usr/bin/env bash
# MoeCloud's test command (the README's second command, and what .ci/run calls).
# On a fresh machine with only the .NET SDK, git, apt and npm it installs what the tests need, builds the solution,
# runs every test project, and ends with one line "N passed, N failed". Exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/lib/deps.sh
source "$root/infra/lib/deps.sh"

configuration="${CONFIGURATION:-Release}"
log_dir="$root/artifacts/test-logs"
mkdir -p "$log_dir"
log="$log_dir/dotnet-test.log"

echo "==> installing what the tests need (only what is missing)"
moecloud_install_test_dependencies

echo "==> building MoeCloud.sln ($configuration)"
dotnet build MoeCloud.sln -c "$configuration" -nologo -v quiet

echo "==> running tests"
status=0
dotnet test MoeCloud.sln -c "$configuration" --no-build -nologo \
  --blame-hang-timeout 10m "$@" 2>&1 | tee "$log" || status=$?

# dotnet test prints one "Passed!  - Failed: F, Passed: P, ..." or "Failed!  - ..." line per test assembly.
read -r passed failed assemblies < <(
  grep -aE '^\s*(Passed|Failed)!\s+-\s+Failed:' "$log" \
    | sed -E 's/.*Failed:\s*([0-9]+),\s*Passed:\s*([0-9]+).*/\2 \1/' \
    | awk '{p += $1; f += $2; n += 1} END {printf "%d %d %d\n", p, f, n}'
)
if [ "$assemblies" -eq 0 ]; then
  echo "no test assembly reported a result (see $log)" >&2
  status=1
fi
if [ "$failed" -gt 0 ]; then
  status=1
fi
echo "$passed passed, $failed failed"
exit "$status"
