#!/bin/sh
# Run `podmig place` on an instance and check its JSON output.
# usage: check-place.sh PODMIG INSTANCE SOLVER EXPECT
#   EXPECT is a node name the (single) container must land on, or "infeasible".
set -eu
podmig=$1 instance=$2 solver=$3 expect=$4

out=$("$podmig" place --instance "$instance" --solver "$solver" --seed 7)
printf '%s\n' "$out"
if [ "$expect" = infeasible ]; then
	printf '%s\n' "$out" | grep -q '"feasible": false' || { echo "expected infeasible" >&2; exit 1; }
	printf '%s\n' "$out" | grep -q '"status": "infeasible"' || { echo "expected status infeasible" >&2; exit 1; }
else
	printf '%s\n' "$out" | grep -q '"feasible": true' || { echo "expected feasible" >&2; exit 1; }
	printf '%s\n' "$out" | grep -q "\"node\": \"$expect\"" || { echo "expected node $expect" >&2; exit 1; }
	for key in objective imbalance imbalance_per_resource migration_seconds elapsed_ms; do
		printf '%s\n' "$out" | grep -q "\"$key\":" || { echo "missing $key" >&2; exit 1; }
	done
fi
