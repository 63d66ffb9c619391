#!/usr/bin/env bash
# check-config-errors.sh AGENT SCHEDULER PODMIG: a bad config file stops each
# program before it does anything, exit status 2, with the file and line of
# the first bad line; `--help` still works; a flag overrides the file.
set -euo pipefail
agent=$1 scheduler=$2 podmig=$3
tmp=$(mktemp -d /tmp/podmig-config-errors.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

# expect WANT_STATUS WANT_TEXT COMMAND...: the command exits WANT_STATUS and
# its stderr contains WANT_TEXT.
expect() {
	local want_status=$1 want=$2 status=0
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err" </dev/null || status=$?
	if [ "$status" != "$want_status" ] || { [ -n "$want" ] && ! grep -qF -- "$want" "$tmp/err"; }; then
		printf 'FAIL: %s\n  exit %s (want %s), stderr: %s\n  wanted: %s\n' "$*" "$status" \
			"$want_status" "$(cat "$tmp/err")" "$want"
		fail=1
	else
		printf 'ok: %s\n' "$*"
	fi
}

printf '# node\nnode-name = n1\nlisten 127.0.0.1:0\nbogus = 1\n' >"$tmp/agent.conf"
expect 2 "$tmp/agent.conf:4: unknown setting 'bogus'" "$agent" --config "$tmp/agent.conf"
printf 'node-name = n1\n\ninterval = 0\n' >"$tmp/agent.conf"
expect 2 "$tmp/agent.conf:3: --interval: '0' is not" "$agent" --config "$tmp/agent.conf"
expect 2 "$tmp/none.conf: No such file or directory" "$agent" --config "$tmp/none.conf"
expect 0 "" "$agent" --config "$tmp/agent.conf" --help
# a flag overrides the file: the file's containers accounting (without the
# capacities it needs) gives way to --accounting host, and the next check
# speaks
printf 'accounting = containers\n' >"$tmp/agent.conf"
expect 2 "--accounting=containers needs --capacity-cpus" "$agent" --config "$tmp/agent.conf"
expect 2 "mutual TLS needs --tls-ca" "$agent" --config "$tmp/agent.conf" --accounting host

printf 'name = s1\nlease-ttl = 0\n' >"$tmp/scheduler.conf"
expect 2 "$tmp/scheduler.conf:2: --lease-ttl: '0' is not an integer in [1, 3600]" \
	"$scheduler" --config "$tmp/scheduler.conf"
printf 'listen = 0.0.0.0:1\n' >"$tmp/scheduler.conf"
expect 2 "$tmp/scheduler.conf:1: unknown setting 'listen'" "$scheduler" -c "$tmp/scheduler.conf"
printf 'metrics-address = localhost\n' >"$tmp/scheduler.conf"
expect 2 "$tmp/scheduler.conf:1: --metrics-address: 'localhost' is neither HOST:PORT" \
	"$scheduler" -c "$tmp/scheduler.conf"

printf 'etcd-user = scheduler\n' >"$tmp/scheduler.conf"
expect 2 "--etcd-user and --etcd-password-file go together" "$scheduler" -c "$tmp/scheduler.conf"

printf 'etcd = 127.0.0.1:1\ntls-ca = ca.pem\n' >"$tmp/podmig.conf"
expect 2 "$tmp/podmig.conf:2: tls-ca: 'ca.pem' is not an absolute path" \
	env PODMIG_CONFIG="$tmp/podmig.conf" "$podmig" nodes
expect 0 "" env PODMIG_CONFIG="$tmp/podmig.conf" "$podmig" nodes --help
printf 'insecure = 1\n' >"$tmp/podmig.conf"
expect 2 "$tmp/podmig.conf:1: insecure: '1' is neither 'true' nor 'false'" \
	env PODMIG_CONFIG="$tmp/podmig.conf" "$podmig" nodes
expect 2 "$tmp/gone.conf (from \$PODMIG_CONFIG): No such file or directory" \
	env PODMIG_CONFIG="$tmp/gone.conf" "$podmig" history
exit "$fail"
