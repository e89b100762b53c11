/*
 * What every child process shares: how it was started, how it gets its
 * first configuration, and how it gives up root.
 */
#ifndef BULWARK_CHILD_H
#define BULWARK_CHILD_H

#include "ipc.h"

struct config;

/* The master passes the child's end of its channel as this descriptor. */
#define CHILD_MASTER_FD	3

struct child_env {
	enum proc_role	 role;
	int		 master_fd;	/* CHILD_MASTER_FD */
	int		 as_root;	/* started by root: drop privileges */
};

/*
 * Block until the master's first IMSG_CONFIG arrives and parse it.  Any
 * other first message, or a config that does not parse, is fatal.
 */
struct config	*child_first_config(int master_fd);

/*
 * A later IMSG_CONFIG from the master: its configuration, parsed.  When
 * it does not parse, this logs why (as role), tells the master, and
 * returns NULL; the caller keeps its old one.  Otherwise the caller
 * applies it and answers with child_config_result(), or refuses it with
 * child_config_refused() when something it depends on fails.
 */
struct config	*child_config_take(struct ipc_chan *master,
		    struct ipc_reader *rd, const char *role);
/* Log that role keeps its old configuration, and tell the master why. */
void		 child_config_refused(struct ipc_chan *master, uint64_t id,
		    const char *role, const char *why);
/*
 * Answer the master's IMSG_CONFIG of that id: err NULL when the new
 * configuration is applied, else why the old one stays (the parser's
 * lines are joined into one).
 */
void		 child_config_result(struct ipc_chan *master, uint64_t id,
		    const char *err);

/*
 * Give up root: resolve user, chroot to dir when dir is not NULL, then
 * drop groups, gid and uid in that order and check that root cannot come
 * back.  Does nothing when not running as root.
 */
void		 priv_drop(const char *user, const char *chroot_dir);

/* Watch sig on base with fn from the event loop; fatal when it cannot. */
struct event	*child_signal(struct event_base *, int sig, event_callback_fn,
		    void *arg);

/* Entry points of the roles (never return). */
void	smtpd_main(const struct child_env *, struct config *)
	    __attribute__((noreturn));
void	queue_main(const struct child_env *, struct config *)
	    __attribute__((noreturn));
void	policy_main(const struct child_env *, struct config *)
	    __attribute__((noreturn));
void	local_main(const struct child_env *, struct config *)
	    __attribute__((noreturn));
void	remote_main(const struct child_env *, struct config *)
	    __attribute__((noreturn));

#endif
