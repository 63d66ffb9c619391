#!/bin/sh
# `podmig place` edge cases a user meets: a printed seed can be passed back, a seed that cannot
# be printed as itself is refused, a directory is not reported as bad JSON, and an instance too
# large for the exact solver says so.
# usage: check-place-cli.sh PODMIG SMALL_INSTANCE
set -eu
podmig=$1 instance=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

out=$("$podmig" place --instance "$instance" --seed 9223372036854775807)
printf '%s\n' "$out" | grep -q '"seed": 9223372036854775807,' ||
	fail "the largest seed is not echoed as itself: $out"

if "$podmig" place --instance "$instance" --seed 18446744073709551615 >"$tmp/out" 2>"$tmp/err"; then
	fail "a seed above 2^63-1 was accepted: $(cat "$tmp/out")"
fi
grep -q -- '--seed' "$tmp/err" || fail "no --seed error: $(cat "$tmp/err")"

if "$podmig" place --instance "$tmp" >"$tmp/out" 2>"$tmp/err"; then
	fail "a directory was accepted as an instance"
fi
grep -q 'is a directory' "$tmp/err" || fail "directory reported as: $(cat "$tmp/err")"

# 420 nodes × 10,000 containers: above the exact solver's 4 Mi cells.
awk 'BEGIN {
	printf "{\"source\": 0, \"nodes\": ["
	for (j = 0; j < 420; j++)
		printf "%s{\"capacity\": {\"cpu\": 1000, \"memory\": 1000, \"network\": 1000}, \"used\": {\"cpu\": 1, \"memory\": 1, \"network\": 1}, \"bandwidth\": 1}", (j ? ", " : "")
	printf "], \"containers\": ["
	for (c = 0; c < 10000; c++)
		printf "%s{\"demand\": {\"cpu\": 0.001, \"memory\": 0.001, \"network\": 0.001}}", (c ? ", " : "")
	printf "]}\n"
}' >"$tmp/large.json"
if "$podmig" place --instance "$tmp/large.json" --solver exact >"$tmp/out" 2>"$tmp/err"; then
	fail "exact accepted an instance beyond its size limit"
fi
grep -q 'too large for the exact solver' "$tmp/err" || fail "exact said: $(cat "$tmp/err")"
echo ok
