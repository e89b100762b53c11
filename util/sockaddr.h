/*
 * Socket addresses written as address literals, the one grammar of
 * inet_interfaces (the config parser and the master) and relayhost:
 * "a.b.c.d:port", "[a.b.c.d]:port" or "[ipv6]:port" ("[IPv6:...]", as
 * RFC 5321 writes it, too).  No host names: Bulwark asks no DNS.
 */
#ifndef BULWARK_SOCKADDR_H
#define BULWARK_SOCKADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define SOCKADDR_LABEL_MAX	64	/* "[ffff:...:ffff]:65535" fits */

/*
 * Parse spec into a socket address.  A spec without a port gets defport,
 * or is refused when defport is 0.  Returns 0, or -1 with "spec: reason"
 * in err.
 */
int	sockaddr_parse(const char *spec, int defport,
	    struct sockaddr_storage *, socklen_t *, char *err, size_t errlen);
/* "[address]:port", the same text for every way of writing it; 0 or -1. */
int	sockaddr_label(const struct sockaddr_storage *, char *out,
	    size_t outlen);

#endif
