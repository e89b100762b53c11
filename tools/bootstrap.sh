#!/bin/sh
# Set up a Debian 12 machine for Bulwark and build it, then run the
# embedded default instance in the foreground (run) or every test (check).
#
#	tools/bootstrap.sh run		# as root: install, build, make run
#	tools/bootstrap.sh check	# as root: install, build, make check
#
# Safe to run again: it installs only packages dpkg reports missing,
# creates the bulwark user and bulwarkdrop group only if they are absent,
# and reruns ./configure only when the Makefile is missing or stale.
set -eu

usage() {
	echo "usage: tools/bootstrap.sh run|check" >&2
	exit 64
}

[ $# -eq 1 ] || usage
case $1 in
run|check) target=$1 ;;
*) usage ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

say() {
	echo "bootstrap: $*"
}

die() {
	echo "bootstrap: $*" >&2
	exit 1
}

PACKAGES="build-essential gcc make pkg-config clang libevent-dev
libc-ares-dev libssl-dev libsasl2-dev libpcre2-dev libdb-dev libcunit1-dev
libbsd-dev postfix swaks python3 procps iproute2"

is_installed() {
	st=$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null) || \
	    return 1
	[ "$st" = installed ]
}

uid=$(id -u)

# Postfix is only here for smtp-source and smtp-sink.  Preseed "No
# configuration" so it installs without questions and without a main.cf
# that would make it listen on port 25.
preseed_postfix() {
	echo "postfix postfix/main_mailer_type select No configuration" | \
	    debconf-set-selections
}

apt_install() {
	[ "$uid" -eq 0 ] || die "missing packages:$*; run as root" \
	    "(or: apt-get install$*)"
	command -v apt-get >/dev/null 2>&1 || \
	    die "missing packages:$* and no apt-get (Debian 12 expected)"
	export DEBIAN_FRONTEND=noninteractive
	case " $* " in
	*" postfix "*) preseed_postfix ;;
	esac
	say "installing:$*"
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q -o Dpkg::Options::=--force-confdef \
	    -o Dpkg::Options::=--force-confold "$@"
}

install_packages() {
	missing=""
	for p in $PACKAGES; do
		is_installed "$p" || missing="$missing $p"
	done
	postfix_new=no
	case " $missing " in
	*" postfix "*) postfix_new=yes ;;
	esac
	if [ -n "$missing" ]; then
		# shellcheck disable=SC2086
		apt_install $missing
	else
		say "all packages present"
	fi
	if [ "$postfix_new" = yes ]; then
		quiet_postfix
	fi
	fuzz_runtime
}

# A freshly installed Postfix is not our MTA: keep its daemon from
# running (it would hold port 25) and from starting at boot.
quiet_postfix() {
	if command -v systemctl >/dev/null 2>&1 && \
	    [ -d /run/systemd/system ]; then
		systemctl disable --now postfix >/dev/null 2>&1 || true
	elif command -v postfix >/dev/null 2>&1; then
		postfix stop >/dev/null 2>&1 || true
	fi
}

# make check builds libFuzzer targets: clang needs its runtime package,
# which is only a recommendation of clang on Debian.
fuzz_runtime() {
	command -v clang >/dev/null 2>&1 || return 0
	tmp=$(mktemp -d)
	printf '%s\n' 'int LLVMFuzzerTestOneInput(const char *d,' \
	    '    unsigned long n) { return 0; }' > "$tmp/f.c"
	if clang -fsanitize=fuzzer,address -o "$tmp/f" "$tmp/f.c" \
	    >/dev/null 2>&1; then
		rm -rf "$tmp"
		return 0
	fi
	rm -rf "$tmp"
	major=$(clang -dumpversion | cut -d. -f1)
	is_installed "libclang-rt-$major-dev" && return 0
	apt_install "libclang-rt-$major-dev"
}

# Something else on 127.0.0.1:2525 would keep the default instance from
# starting; say so now rather than after the build.
check_port() {
	command -v ss >/dev/null 2>&1 || return 0
	if ss -Hltn 'sport = :2525' 2>/dev/null | grep -q .; then
		say "warning: port 2525 is already in use:"
		ss -Hltnp 'sport = :2525' 2>/dev/null || true
	fi
}

make_users() {
	if [ "$uid" -ne 0 ]; then
		say "not root: not creating the bulwark user (every process" \
		    "will run as $(id -un))"
		return 0
	fi
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/bin/false
	if ! getent group bulwark >/dev/null; then
		groupadd --system bulwark
	fi
	if ! getent passwd bulwark >/dev/null; then
		useradd --system --gid bulwark --home-dir /nonexistent \
		    --no-create-home --shell "$nologin" \
		    --comment "Bulwark mail system" bulwark
		say "created user bulwark"
	fi
	if ! getent group bulwarkdrop >/dev/null; then
		groupadd --system bulwarkdrop
		say "created group bulwarkdrop"
	fi
}

build() {
	if [ ! -f Makefile ] || [ Makefile -ot Makefile.in ] || \
	    [ Makefile -ot configure ]; then
		./configure
	fi
	make -j2
}

install_packages
make_users
build
case $target in
run) check_port ;;
esac
exec make "$target"
