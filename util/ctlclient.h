/*
 * The client side of the master's control socket (private/control),
 * shared by bulwarkctl and sendmail -q.
 */
#ifndef BULWARK_CTLCLIENT_H
#define BULWARK_CTLCLIENT_H

#define CTL_REPLY_SECS	60	/* the master answers within this */

/*
 * Send the request line cmd to the control socket at path and copy the
 * reply as it comes: to stdout when it starts with "ok", else to
 * stderr.  Our own messages go to stderr after "prog: ".  Returns 0 for
 * an "ok" reply; 1 for "error: ...", no reply in CTL_REPLY_SECS or an
 * I/O error; EX_UNAVAILABLE when no daemon listens; EX_NOPERM when the
 * socket refuses us; EX_CONFIG or EX_OSERR when no connection could be
 * tried.
 */
int	ctl_request(const char *prog, const char *path, const char *cmd);

#endif
