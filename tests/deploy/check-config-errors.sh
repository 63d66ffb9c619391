#!/usr/bin/env bash
# check-config-errors.sh AGENT SCHEDULER PODMIG: a bad config file stops each
# program before it does anything, exit status 2, with the file and line of
# the first bad line; `--help` still works; a flag overrides the file; a
# password on the command line (--etcd-password) is refused.
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

# getopt_long takes a unique prefix as the option: without a refusal,
# --etcd-password SECRET would read SECRET as --etcd-password-file's file.
# Every spelling is refused, with the way that works and without the value.
refused="no option takes the password itself"
for run in "$agent" "$scheduler" "$podmig nodes" "$podmig migrate c --to n2"; do
	read -ra cmd <<<"$run"
	expect 2 "$refused" "${cmd[@]}" --etcd-password pw-9c1e
	if grep -qF pw-9c1e "$tmp/err"; then
		printf 'FAIL: %s printed the password\n' "$run"
		fail=1
	fi
	expect 2 "$refused" "${cmd[@]}" --etcd-password=pw-9c1e
	expect 2 "$refused" "${cmd[@]}" --etcd-password
	expect 2 "is ambiguous" "${cmd[@]}" --etcd-pass pw-9c1e
done
expect 2 "and pass --etcd-password-file FILE (or set \$PODMIG_ETCD_PASSWORD" \
	"$podmig" history --etcd-password pw-9c1e
# the file option itself, and a longer prefix of it, still take a file
for option in --etcd-password-file --etcd-password-f; do
	expect 2 "cannot read $tmp/pw-9c1e" "$podmig" nodes --insecure --etcd-user u \
		"$option" "$tmp/pw-9c1e"
done

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
