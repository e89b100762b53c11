/*
 * relayhost parsing (see relayhost.h), with the one address-literal
 * grammar of util/sockaddr.c; port 25 when none is given.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include "relayhost.h"

int
relayhost_parse(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char *label, size_t labellen)
{
	char err[256];

	if (sockaddr_parse(spec, 25, ss, sslen, err, sizeof(err)) == -1)
		return -1;
	return sockaddr_label(ss, label, labellen);
}
