/*
 * relayhost parsing (see relayhost.h).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relayhost.h"

/* Split spec into host text and port; brackets are required for IPv6. */
static int
split(const char *spec, char *host, size_t hostlen, long long *port)
{
	const char *end, *colon;
	const char *errstr = NULL;
	size_t len;

	*port = 25;
	if (spec[0] == '[') {
		if ((end = strchr(spec, ']')) == NULL)
			return -1;
		len = (size_t)(end - spec - 1);
		spec++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strchr(spec, ':');
		len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
		if (colon != NULL && strchr(colon + 1, ':') != NULL)
			return -1;	/* IPv6 needs brackets */
	}
	if (len == 0 || len >= hostlen)
		return -1;
	memcpy(host, spec, len);
	host[len] = '\0';
	if (colon != NULL) {
		*port = strtonum(colon + 1, 1, 65535, &errstr);
		if (errstr != NULL)
			return -1;
	}
	return 0;
}

int
relayhost_parse(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen, char *label, size_t labellen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	char host[INET6_ADDRSTRLEN + 8], canon[INET6_ADDRSTRLEN];
	const char *h = host;
	long long port;
	int len;

	if (split(spec, host, sizeof(host), &port) == -1)
		return -1;
	/* the address-literal form of RFC 5321: [IPv6:2001:db8::1] */
	if (spec[0] == '[' && strncasecmp(host, "IPv6:", 5) == 0)
		h = host + 5;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)port);
		*sslen = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, canon, sizeof(canon));
	} else if (spec[0] == '[' &&
	    inet_pton(AF_INET6, h, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)port);
		*sslen = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, canon, sizeof(canon));
	} else
		return -1;
	len = snprintf(label, labellen, "[%s]:%lld", canon, port);
	if (len < 0 || (size_t)len >= labellen)
		return -1;
	return 0;
}
