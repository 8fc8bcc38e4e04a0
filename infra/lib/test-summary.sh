#!/usr/bin/env bash
# Summarises one `dotnet test` run for infra/test.sh. Sourced; needs only bash, grep, sed, awk and sort.

# moecloud_skipped_tests RESULTS_DIR: one line "NAME<TAB>REASON" per skipped test (outcome NotExecuted) in the .trx
# files that `dotnet test --logger trx --results-directory RESULTS_DIR` wrote, sorted by name.
moecloud_skipped_tests() {
  local dir="$1" f
  for f in "$dir"/*.trx; do
    [ -e "$f" ] || continue
    awk '
      function unescape(s) {
        gsub(/&lt;/, "<", s); gsub(/&gt;/, ">", s); gsub(/&quot;/, "\"", s); gsub(/&apos;/, "\047", s); gsub(/&amp;/, "\\&", s)
        return s
      }
      /<UnitTestResult / {
        skipped = 0
        if ($0 ~ /outcome="NotExecuted"/) {
          name = $0; sub(/.*testName="/, "", name); sub(/".*/, "", name)
          skipped = 1; reason = "(no reason given)"
          if ($0 ~ /\/>[ \t\r]*$/) { print unescape(name) "\t" reason; skipped = 0 }
        }
      }
      skipped && /<Message>/ {
        reason = $0; sub(/.*<Message>/, "", reason); sub(/<\/Message>.*/, "", reason)
      }
      skipped && /<\/UnitTestResult>/ { print unescape(name) "\t" unescape(reason); skipped = 0 }
    ' "$f"
  done | sort
}

# moecloud_test_summary LOG RESULTS_DIR: lists each skipped test with its reason, then prints the line
# "N passed, N failed, N skipped" summed over the per-assembly lines of LOG ("Passed!  - Failed: F, Passed: P,
# Skipped: S, ..." or "Failed!  - ..."). Returns 1 when a test failed or no assembly reported, else 0.
moecloud_test_summary() {
  local log="$1" results="$2" passed failed skipped assemblies listed name reason rc=0
  read -r passed failed skipped assemblies < <(
    grep -aE '^\s*(Passed|Failed)!\s+-\s+Failed:' "$log" \
      | sed -E 's/.*Failed:\s*([0-9]+),\s*Passed:\s*([0-9]+),\s*Skipped:\s*([0-9]+).*/\2 \1 \3/' \
      | awk '{p += $1; f += $2; s += $3; n += 1} END {printf "%d %d %d %d\n", p, f, s, n}'
  )
  if [ "$skipped" -gt 0 ]; then
    echo "skipped tests:"
    listed=0
    while IFS=$'\t' read -r name reason; do
      echo "  $name: $reason"
      listed=$((listed + 1))
    done < <(moecloud_skipped_tests "$results")
    if [ "$listed" -ne "$skipped" ]; then
      echo "  ($listed of $skipped skipped tests listed: the others' reasons are not in $results/*.trx)"
    fi
  fi
  if [ "$assemblies" -eq 0 ]; then
    echo "no test assembly reported a result (see $log)" >&2
    rc=1
  fi
  if [ "$failed" -gt 0 ]; then
    rc=1
  fi
  echo "$passed passed, $failed failed, $skipped skipped"
  return "$rc"
}
