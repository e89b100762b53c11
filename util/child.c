/*
 * What every child does before its event loop: take the first
 * configuration from the master, give up root, and watch its signals.
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "text.h"
#include "xmalloc.h"

/*
 * Block for the master's first frame, which must be IMSG_CONFIG.  The
 * master validated the file already, so errors here mean the two ends
 * disagree: fatal.
 */
struct config *
child_first_config(int master_fd)
{
	struct ipc_reader rd;
	struct ipc_hdr hdr;
	struct config *cfg;
	unsigned char *payload;
	char *path, *text, *errs = NULL;

	ipc_read_blocking(master_fd, "master", &hdr, &payload, &rd);
	if (hdr.type != IMSG_CONFIG)
		fatal("first message from master is %s, not CONFIG",
		    ipc_type_name(hdr.type));
	if (rd.fd != IPC_NO_FD)
		fatal("ipc: garbled CONFIG frame from master: unexpected "
		    "descriptor");
	path = ipc_get_str(&rd);
	text = ipc_get_str(&rd);
	ipc_get_end(&rd);
	free(payload);

	if ((cfg = config_parse(path, text, &errs)) == NULL) {
		if (errs != NULL)
			text_join_lines(errs);
		fatal("configuration from master does not parse: %s",
		    errs != NULL ? errs : path);
	}
	free(path);
	free(text);
	return cfg;
}

struct config *
child_config_take(struct ipc_chan *master, struct ipc_reader *rd,
    const char *role)
{
	struct config *cfg;
	char *path, *text, *errs = NULL;

	path = ipc_get_str(rd);
	text = ipc_get_str(rd);
	ipc_get_end(rd);
	if ((cfg = config_parse(path, text, &errs)) == NULL)
		child_config_refused(master, rd->hdr->id, role,
		    errs != NULL ? errs : "the configuration does not parse");
	free(errs);
	free(path);
	free(text);
	return cfg;
}

void
child_config_refused(struct ipc_chan *master, uint64_t id,
    const char *role, const char *why)
{
	char *line = xstrdup(why);

	text_join_lines(line);
	log_warn("%s: new configuration not applied, the old one stays: %s",
	    role, line);
	child_config_result(master, id, line);
	free(line);
}

void
child_config_result(struct ipc_chan *master, uint64_t id, const char *err)
{
	struct ipc_msg *msg = ipc_msg_new(IMSG_CONFIG_RESULT, id);
	char *why = xstrdup(err != NULL ? err : "");

	text_join_lines(why);
	ipc_add_u32(msg, err == NULL);
	ipc_add_str(msg, why);
	ipc_send(master, msg, IPC_NO_FD);
	free(why);
}

/*
 * Give up root for good.  The order matters: chroot needs root, and the
 * groups and gid can only be changed while the uid is still 0.  The
 * last step proves that root cannot be taken back.
 */
void
priv_drop(const char *user, const char *chroot_dir)
{
	struct passwd *pw;
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0)
		return;
	errno = 0;
	if ((pw = getpwnam(user)) == NULL)
		fatal("no such user: %s%s%s", user, errno != 0 ? ": " : "",
		    errno != 0 ? strerror(errno) : "");
	uid = pw->pw_uid;
	gid = pw->pw_gid;

	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) == -1)
			fatalx_errno("chroot %s", chroot_dir);
		if (chdir("/") == -1)
			fatalx_errno("chdir / in %s", chroot_dir);
	}
	if (setgroups(1, &gid) == -1)
		fatalx_errno("setgroups %lu", (unsigned long)gid);
	if (setresgid(gid, gid, gid) == -1)
		fatalx_errno("setresgid %lu", (unsigned long)gid);
	if (setresuid(uid, uid, uid) == -1)
		fatalx_errno("setresuid %lu", (unsigned long)uid);

	if (setuid(0) != -1)
		fatal("privilege drop to %s failed: root came back", user);
	if (getresuid(&ruid, &euid, &suid) == -1 ||
	    getresgid(&rgid, &egid, &sgid) == -1)
		fatalx_errno("getresuid");
	if (ruid == 0 || euid == 0 || suid == 0 ||
	    rgid == 0 || egid == 0 || sgid == 0)
		fatal("privilege drop to %s failed: still uid %lu/%lu/%lu "
		    "gid %lu/%lu/%lu", user, (unsigned long)ruid,
		    (unsigned long)euid, (unsigned long)suid,
		    (unsigned long)rgid, (unsigned long)egid,
		    (unsigned long)sgid);
}

struct event *
child_signal(struct event_base *base, int sig, event_callback_fn fn,
    void *arg)
{
	struct event *ev;

	if ((ev = evsignal_new(base, sig, fn, arg)) == NULL ||
	    event_add(ev, NULL) != 0)
		fatal("cannot watch signal %d", sig);
	return ev;
}
