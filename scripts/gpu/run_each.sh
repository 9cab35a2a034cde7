#!/usr/bin/env bash
# run_each.sh BINARY XML_PREFIX [gtest args...]: runs every test of a GoogleTest binary in its own
# process, so that a CUDA fault (which poisons the whole CUDA context) in one test cannot hide the
# results of the others. Exit status 1 if any test failed or crashed.
set -uo pipefail
bin="$1"
xml="$2"
shift 2
rc=0
suite=""
while IFS= read -r line; do
  if [[ "$line" =~ ^([A-Za-z0-9_/]+)\.$ ]]; then suite="${BASH_REMATCH[1]}"; continue; fi
  [[ "$line" =~ ^\ \ ([A-Za-z0-9_/]+) ]] || continue
  t="$suite.${BASH_REMATCH[1]}"
  "$bin" --gtest_filter="$t" --gtest_output="xml:${xml}-${t//\//_}.xml" "$@"
  r=$?
  if ((r != 0)); then
    rc=1
    # A crash prints no gtest verdict: say so in a line the summary counts.
    ((r > 1)) && echo "[  FAILED  ] $t (crashed: exit status $r)"
  fi
done < <("$bin" --gtest_list_tests "$@")
exit $rc
