/*
 * Address literals with a port (see sockaddr.h).  One parser, so that
 * the config check, the master's sockets and the remote agent take the
 * same text.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sockaddr.h"

/*
 * Split spec into its address text (without brackets) and its port text
 * (NULL when there is none); 0, or -1 with the reason in err.
 */
static int
split(const char *spec, char *host, size_t hostlen, const char **port,
    char *err, size_t errlen)
{
	const char *h = spec, *end, *colon;
	size_t len;

	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
			snprintf(err, errlen, "%s: expected [address]:port",
			    spec);
			return -1;
		}
		h = spec + 1;
		len = (size_t)(end - h);
		*port = end[1] == ':' ? end + 2 : NULL;
	} else {
		colon = strchr(spec, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			snprintf(err, errlen, "%s: not a numeric address "
			    "(IPv6 goes in brackets)", spec);
			return -1;
		}
		len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
		*port = colon != NULL ? colon + 1 : NULL;
	}
	if (len == 0 || len >= hostlen) {
		snprintf(err, errlen, "%s: bad address", spec);
		return -1;
	}
	memcpy(host, h, len);
	host[len] = '\0';
	return 0;
}

int
sockaddr_parse(const char *spec, int defport, struct sockaddr_storage *ss,
    socklen_t *sslen, char *err, size_t errlen)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	char host[INET6_ADDRSTRLEN + 8];
	const char *portstr, *v6 = host, *errstr;
	long long port = defport;

	memset(ss, 0, sizeof(*ss));
	if (split(spec, host, sizeof(host), &portstr, err, errlen) == -1)
		return -1;
	if (portstr == NULL && defport == 0) {
		snprintf(err, errlen, "%s: no port (address:port)", spec);
		return -1;
	}
	if (portstr != NULL) {
		port = strtonum(portstr, 1, 65535, &errstr);
		if (errstr != NULL) {
			snprintf(err, errlen, "%s: port is %s", spec, errstr);
			return -1;
		}
	}
	if (spec[0] == '[' && strncasecmp(host, "IPv6:", 5) == 0)
		v6 = host + 5;
	else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
		return 0;
	}
	/* Brackets keep an IPv6 address's colons apart from the port's. */
	if (spec[0] == '[' && inet_pton(AF_INET6, v6, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	snprintf(err, errlen, "%s: not a numeric address", spec);
	return -1;
}

int
sockaddr_label(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	char canon[INET6_ADDRSTRLEN];
	unsigned port;
	int n;

	if (ss->ss_family == AF_INET &&
	    inet_ntop(AF_INET, &sin->sin_addr, canon, sizeof(canon)) != NULL)
		port = ntohs(sin->sin_port);
	else if (ss->ss_family == AF_INET6 && inet_ntop(AF_INET6,
	    &sin6->sin6_addr, canon, sizeof(canon)) != NULL)
		port = ntohs(sin6->sin6_port);
	else
		return -1;
	n = snprintf(out, outlen, "[%s]:%u", canon, port);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
