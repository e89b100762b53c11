#!/bin/sh
# Run each libFuzzer target for a bounded time.
#
#	tools/fuzz.sh SECONDS target...
#
# Each target keeps its growing corpus in tests/fuzz/corpus-<name>/
# (ignored by git), seeded from tests/fuzz/seeds/<name>/ when that
# folder exists.  A crash leaves its input as crash-* in the checkout
# and makes the script fail.
set -u

[ $# -ge 1 ] || { echo "usage: tools/fuzz.sh SECONDS target..." >&2; exit 64; }
secs=$1
shift
top=$(cd "$(dirname "$0")/.." && pwd)
fail=0
for t in "$@"; do
	name=$(basename "$t")
	corpus=$top/tests/fuzz/corpus-$name
	seeds=$top/tests/fuzz/seeds/$name
	mkdir -p "$corpus"
	set -- "$corpus"
	[ -d "$seeds" ] && set -- "$corpus" "$seeds"
	echo "== fuzz $name for ${secs}s"
	if ! ASAN_OPTIONS=detect_leaks=1 \
	    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$top/" "$@" \
	    > "$corpus.log" 2>&1; then
		echo "fuzz: $name failed; the end of its log:"
		tail -40 "$corpus.log"
		fail=1
	else
		grep -E "^stat::number_of_executed_units" "$corpus.log" || true
	fi
done
exit $fail
