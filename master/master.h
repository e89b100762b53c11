/*
 * The master process: what its files (master.c, proc.c, spool.c,
 * listen.c, control.c, check.c) share.  One struct master holds the whole
 * state of the supervisor; every function takes it explicitly.
 */
#ifndef BULWARK_MASTER_H
#define BULWARK_MASTER_H

#include <sys/types.h>
#include <sys/socket.h>

#include <limits.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "config.h"
#include "ipc.h"

#define MASTER_BACKOFF_MIN	1	/* seconds before the first restart */
#define MASTER_BACKOFF_MAX	60	/* longest wait between restarts */
#define MASTER_STABLE_SECS	60	/* a run this long resets back-off */
#define MASTER_STOP_SMTPD_SECS	10	/* smtpd's grace before the rest stop */
#define MASTER_STOP_QUEUE_SECS	40	/* the queue's 30 s for deliveries */
#define MASTER_STOP_REST_SECS	20	/* then SIGKILL for whoever is left */
#define MASTER_CONFIG_MAX	(IPC_MAX_PAYLOAD - 8192)
#define MASTER_RELOAD_SECS	10	/* children's answers to a reload */

struct master_opts {
	const char	*config_path;
	int		 foreground;	/* -d: no fork, log to stderr */
	int		 debug;		/* -v */
};

struct master;

/* One child role: at most one process of it runs at a time. */
struct proc {
	struct master	*m;
	enum proc_role	 role;
	pid_t		 pid;		/* 0 when not running */
	struct ipc_chan	*chan;		/* NULL once closed */
	time_t		 started;	/* monotonic seconds */
	int		 backoff;	/* seconds before the next restart */
	struct event	*restart_ev;
	time_t		 restart_at;	/* monotonic, while restart_ev waits */
	int		 ready;		/* sent IMSG_READY */
};

enum master_phase {
	PHASE_RUN = 0,
	PHASE_STOP_SMTPD,	/* smtpd was asked to stop first */
	PHASE_STOP_QUEUE,	/* then the queue, while agents report */
	PHASE_STOP_REST,	/* then everyone else */
};

struct control;
struct reloads;

/* A reload's outcome: errs NULL when every child applied it. */
typedef void	(*reload_done_fn)(void *arg, const char *errs);

struct master {
	struct event_base	*base;
	char			*config_path;	/* absolute */
	char			*config_text;	/* validated, sent to kids */
	struct config		*cfg;
	int			 foreground;
	int			 debug;
	int			 as_root;
	time_t			 started;	/* monotonic seconds */

	/* who owns the spool and runs the unprivileged children */
	uid_t			 owner_uid;
	gid_t			 owner_gid;
	gid_t			 drop_gid;	/* maildrop group */
	char			 user[64];	/* name of the running user */

	/* the master's own copies, kept for restarts */
	int			 listen_fd[CONFIG_MAX_LISTEN];
	size_t			 nlisten;
	int			 submit_fd;
	int			 showq_fd;
	int			 control_fd;
	int			 pid_fd;
	char			 pid_path[PATH_MAX];
	char			 submit_path[PATH_MAX];
	char			 showq_path[PATH_MAX];
	char			 control_path[PATH_MAX];

	struct proc		 procs[ROLE_COUNT];
	enum master_phase	 phase;
	struct event		*stop_ev;
	struct event		*sig_ev[4];
	struct control		*control;
	struct reloads		*reloads;	/* waiting for answers */
};

/* master.c */
void	master_main(const struct master_opts *) __attribute__((noreturn));
/*
 * Re-read the config.  -1 with the errors in *errs when it is refused;
 * else 0, it is sent to the children, and done (when not NULL) hears
 * their answers once (see reload_push).
 */
int	master_reload(struct master *, char **errs, reload_done_fn done,
	    void *arg);
void	master_stop(struct master *);
/* Called by proc.c once every child has gone during a stop. */
void	master_exit(struct master *) __attribute__((noreturn));
/* proc.c reports the end of a child during a stop. */
void	master_child_gone(struct master *);
/* Monotonic seconds, for uptimes and back-off. */
time_t	master_now(void);

/* check.c: what config_parse cannot see (table files, users, spool). */
/* Append one formatted line to the malloc'd error text *errs. */
void	master_errf(char **errs, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	master_check_config(const struct config *, int as_root, char **errs);
/* Load a file and run every check; prints nothing. */
struct config	*master_load_config(const char *path, int as_root,
		    char **text, char **errs);

/* spool.c: the queue_directory layout and the pid file. */
int	spool_prepare(struct master *, char *err, size_t errlen);
int	spool_pid_lock(struct master *, char *err, size_t errlen);
int	spool_pid_write(struct master *, char *err, size_t errlen);
void	spool_cleanup(struct master *);

/* listen.c: the listening sockets the master owns. */
int	listen_inet_open(struct master *, char *err, size_t errlen);
/* One listening TCP socket for "addr:port"; -1 with err on failure. */
int	listen_inet_socket(const char *spec, char *err, size_t errlen);
int	listen_unix_open(const char *path, mode_t mode, uid_t, gid_t,
	    int as_root, char *err, size_t errlen);

/* proc.c: the process table. */
void	proc_init(struct master *);
void	proc_start_all(struct master *);
/* After a reload that changed inet_interfaces: the new set to smtpd. */
void	proc_send_inet_listens(struct master *);
void	proc_reap(struct master *);
/* IMSG_CONFIG with that id (0 at a start, which gets no answer). */
void	proc_send_config(struct master *, struct proc *, uint64_t id);
void	proc_stop_role(struct master *, enum proc_role);
void	proc_kill_all(struct master *, int sig);
int	proc_running(const struct master *);
/* User name of a process, from /proc/<pid>/status. */
void	proc_user(pid_t, char *out, size_t outlen);

/*
 * reload.c: a pushed configuration and the children's answers.  Sends
 * m's configuration to every running child; done(arg, errs) is called
 * exactly once, within MASTER_RELOAD_SECS: errs NULL when each applied
 * it, else one "role: reason" line per child that did not (refused it,
 * did not answer in time, or exited first).
 */
void	reload_push(struct master *, reload_done_fn, void *arg);
void	reload_answer(struct master *, struct proc *, struct ipc_reader *);
/* A child ended; pid is the one it had. */
void	reload_proc_gone(struct master *, struct proc *, pid_t pid);

/* control.c: the private/control socket for bulwarkctl. */
struct control	*control_new(struct master *);
void		 control_free(struct control *);
/* The queue's figures (lines of text) for the status request id. */
void		 control_queue_status(struct control *, uint64_t id,
		    const char *text);

#endif
