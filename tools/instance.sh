#!/bin/sh
# The embedded default instance under run/ in the checkout.
#
#	tools/instance.sh init
#
# Writes run/bulwark.conf from etc/bulwark.conf.instance (absolute paths)
# unless it exists already, and creates run/spool and run/mail.  Run as
# root, the two directories belong to the bulwark user, and the script
# checks that this user can reach them through every parent directory.
set -eu

usage() {
	echo "usage: tools/instance.sh init" >&2
	exit 64
}

[ $# -eq 1 ] && [ "$1" = init ] || usage

top=$(cd "$(dirname "$0")/.." && pwd -P)
run=$top/run
conf=$run/bulwark.conf
tmpl=$top/etc/bulwark.conf.instance
user=bulwark

say() {
	echo "instance: $*"
}

die() {
	echo "instance: $*" >&2
	exit 1
}

case $top in
*'|'* | *'&'* | *'\'*)
	die "the checkout path $top holds a character (| & \\) this" \
	    "script cannot put into the config" ;;
esac

[ -f "$tmpl" ] || die "missing $tmpl"
mkdir -p "$run"
chmod 755 "$run"

if [ -f "$conf" ]; then
	say "keeping $conf"
else
	sed -e "s|@TOP@|$top|g" "$tmpl" > "$conf.tmp"
	chmod 644 "$conf.tmp"
	mv "$conf.tmp" "$conf"
	say "wrote $conf"
fi

mkdir -p "$run/spool" "$run/mail"
chmod 755 "$run/spool" "$run/mail"

[ "$(id -u)" -eq 0 ] || exit 0

if ! getent passwd "$user" >/dev/null; then
	die "no user $user: create it (tools/bootstrap.sh does) and rerun"
fi
chown "$user:" "$run/spool" "$run/mail"

# The unprivileged processes must be able to walk down to run/: every
# directory on the way needs search permission for them.
blocked=""
d=$run
while :; do
	if ! runuser -u "$user" -- test -x "$d" 2>/dev/null; then
		blocked="$blocked $d"
	fi
	[ "$d" = / ] && break
	d=$(dirname "$d")
done
if [ -n "$blocked" ]; then
	echo "instance: WARNING: user $user cannot enter:$blocked" >&2
	echo "instance: WARNING: Bulwark's processes will fail to reach" \
	    "$run; fix with" >&2
	for b in $blocked; do
		echo "instance:     chmod o+x $b" >&2
	done
	echo "instance: WARNING: or clone the checkout under a directory" \
	    "everyone can enter (for example /srv or /opt)" >&2
fi
exit 0
