/*
 * The relayhost setting: "[ip]:port", "[ipv6]:port", "[ip]" (port 25) or
 * a bare IPv4 address with or without a port, as util/sockaddr.h reads
 * them.  Address literals only: Bulwark makes no DNS queries yet, so a
 * host name is refused.
 */
#ifndef BULWARK_RELAYHOST_H
#define BULWARK_RELAYHOST_H

#include <stddef.h>
#include <sys/socket.h>

#include "sockaddr.h"

#define RELAYHOST_LABEL_MAX	SOCKADDR_LABEL_MAX

/*
 * Parse spec into a socket address and the label used in logs and
 * reports ("[127.0.0.1]:2526").  Returns 0, or -1 when spec is not an
 * address literal with a valid port.
 */
int	relayhost_parse(const char *spec, struct sockaddr_storage *,
	    socklen_t *, char *label, size_t labellen);

#endif
