#!/usr/bin/env bash
# check-units.sh SOURCE_ROOT AGENT SCHEDULER: deploy/systemd's units pass
# `systemd-analyze verify` without a single complaint (it exits 0 on unknown
# keys and bad values, printing them: any output fails), with ExecStart
# pointed at the built daemons; the scheduler's sandbox stays tight
# (`systemd-analyze security` exposure at most 2.0).
set -euo pipefail
root=$1 agent=$2 scheduler=$3
if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
tmp=$(mktemp -d /tmp/podmig-units.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/local/bin/podmig-agent#$agent#" "$root/deploy/systemd/podmig-agent.service" >"$tmp/podmig-agent.service"
sed "s#/usr/local/bin/podmig-scheduler#$scheduler#" "$root/deploy/systemd/podmig-scheduler.service" >"$tmp/podmig-scheduler.service"
grep -q "^ExecStart=$agent " "$tmp/podmig-agent.service"
grep -q "^ExecStart=$scheduler " "$tmp/podmig-scheduler.service"
grep -q '^Type=notify$' "$tmp/podmig-agent.service"
grep -q '^Type=notify$' "$tmp/podmig-scheduler.service"

fail=0
for unit in podmig-agent.service podmig-scheduler.service; do
	out=$(cd "$tmp" && systemd-analyze verify --man=no "./$unit" 2>&1) || fail=1
	if [ -n "$out" ]; then
		printf '%s: systemd-analyze verify complains:\n%s\n' "$unit" "$out"
		fail=1
	else
		echo "$unit: verified"
	fi
done

# The checker itself: a unit with a typo must be caught.
sed 's/^Type=notify$/Type=notfy/' "$tmp/podmig-agent.service" >"$tmp/podmig-typo.service"
if [ -z "$(cd "$tmp" && systemd-analyze verify --man=no ./podmig-typo.service 2>&1)" ]; then
	echo "systemd-analyze verify did not notice Type=notfy: this check proves nothing"
	fail=1
fi

exposure=$(cd "$tmp" && systemd-analyze security --offline=yes ./podmig-scheduler.service 2>&1 |
	sed -n 's/.*Overall exposure level for podmig-scheduler.service: \([0-9.]*\).*/\1/p')
echo "podmig-scheduler.service: exposure $exposure"
if [ -z "$exposure" ] || ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	echo "podmig-scheduler.service: exposure '${exposure:-?}' is above 2.0"
	fail=1
fi
exit "$fail"
