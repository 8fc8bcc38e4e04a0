#!/usr/bin/env bash
# MoeCloud's test command (the README's second command, and what .ci/run calls).
# On a fresh machine with only the .NET SDK, git, apt and npm it installs what the tests need, builds the solution,
# runs every test project, lists each skipped test with its reason, and ends with one line
# "N passed, N failed, N skipped". Exits non-zero on any failure or when no test assembly reported.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=infra/lib/deps.sh
source "$root/infra/lib/deps.sh"
# shellcheck source=infra/lib/test-summary.sh
source "$root/infra/lib/test-summary.sh"

configuration="${CONFIGURATION:-Release}"
log_dir="$root/artifacts/test-logs"
mkdir -p "$log_dir"
log="$log_dir/dotnet-test.log"
results="$log_dir/trx"
rm -rf "$results"

echo "==> installing what the tests need (only what is missing)"
moecloud_install_test_dependencies

echo "==> building MoeCloud.sln ($configuration)"
dotnet build MoeCloud.sln -c "$configuration" -nologo -v quiet

echo "==> running tests"
status=0
# The .trx results (one file per test assembly) carry each skipped test's reason; the console's per-assembly lines the counts.
dotnet test MoeCloud.sln -c "$configuration" --no-build -nologo \
  --blame-hang-timeout 10m --logger trx --results-directory "$results" "$@" 2>&1 | tee "$log" || status=$?

moecloud_test_summary "$log" "$results" || status=1
exit "$status"
