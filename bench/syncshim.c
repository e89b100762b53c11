/*
 * syncshim: an LD_PRELOAD library that makes every flush to "the
 * device" take at least SYNCSHIM_MS milliseconds, for bench/throughput.
 * It models a disk with a journal: flushes are serialised across every
 * process that shares SYNCSHIM_FILE, and the requests that arrive while
 * a flush is in progress are all served by the next one.  So N callers
 * at once cost about two flushes, not N.
 *
 *	SYNCSHIM_FILE	a file of at least 4096 bytes, zeroed by whoever
 *			creates it, readable and writable by every process
 *			of the MTA (they may drop privileges or chroot
 *			after exec: the file is mapped at load time)
 *	SYNCSHIM_MS	the time of one flush, in milliseconds (may be
 *			fractional); 0 or unset: the calls only count
 *
 * Wrapped: fsync, fdatasync, syncfs and sync_file_range (the last only
 * when it waits for the write-out).  Every caller runs the real call,
 * so the data really reaches the disk.  A caller that finds no flush in
 * progress starts one: its real call is part of it, and it sleeps to
 * make the flush last D (SYNCSHIM_MS).  A caller that finds one in
 * progress makes its real call meanwhile, then waits for the next
 * flush (which started after it arrived), running it itself (a sleep
 * of D) when nobody else has begun it.
 *
 * The shared file starts with little-endian u64 counters that the
 * script reads (offsets in struct shared below): flushes done, requests,
 * and requests per call.  Without SYNCSHIM_FILE, or if it cannot be
 * mapped, the calls go straight to the real functions.
 *
 * Build: gcc -shared -fPIC -O2 -o syncshim.so syncshim.c -ldl -pthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHIM_MAGIC	0x5359534eU	/* "SYSN" */
#define SHIM_SIZE	4096

struct shared {
	uint32_t	init;		/* 0 fresh, 1 being set up, 2 ready */
	uint32_t	magic;
	uint64_t	flushes;	/* offset 8: device flushes done */
	uint64_t	requests;	/* offset 16: wrapped calls */
	uint64_t	n_fsync;	/* offset 24 */
	uint64_t	n_fdatasync;	/* offset 32 */
	uint64_t	n_syncfs;	/* offset 40 */
	uint64_t	n_sfr;		/* offset 48: sync_file_range */
	uint64_t	flush_ns;	/* offset 56: time spent flushing */
	uint64_t	started;	/* flushes begun */
	uint64_t	completed;	/* highest flush number done */
	int32_t		busy;		/* a flush is in progress */
	int32_t		flusher;	/* its pid */
	uint64_t	busy_since;	/* CLOCK_MONOTONIC ns */
	pthread_mutex_t	mu;
	pthread_cond_t	cv;
};

static struct shared *sh;
static uint64_t delay_ns;

static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_syncfs)(int);
static int (*real_sfr)(int, off64_t, off64_t, unsigned int);

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
	    (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
lock(void)
{
	if (pthread_mutex_lock(&sh->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->mu);
}

/* Set up the mutex and condvar once, whichever process comes first. */
static int
shared_setup(struct shared *s)
{
	pthread_mutexattr_t ma;
	pthread_condattr_t ca;
	uint32_t zero = 0;
	int i;

	if (__atomic_compare_exchange_n(&s->init, &zero, 1, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		pthread_mutexattr_init(&ma);
		pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&s->mu, &ma);
		pthread_condattr_init(&ca);
		pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&s->cv, &ca);
		s->magic = SHIM_MAGIC;
		__atomic_store_n(&s->init, 2, __ATOMIC_RELEASE);
		return 0;
	}
	for (i = 0; i < 2000; i++) {	/* at most about 2 s */
		if (__atomic_load_n(&s->init, __ATOMIC_ACQUIRE) == 2)
			return s->magic == SHIM_MAGIC ? 0 : -1;
		sleep_ns(1000000);
	}
	return -1;
}

__attribute__((constructor)) static void
shim_init(void)
{
	const char *path = getenv("SYNCSHIM_FILE");
	const char *ms = getenv("SYNCSHIM_MS");
	struct stat st;
	void *p;
	int fd;

	real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
	real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	real_syncfs = (int (*)(int))dlsym(RTLD_NEXT, "syncfs");
	real_sfr = (int (*)(int, off64_t, off64_t, unsigned int))dlsym(
	    RTLD_NEXT, "sync_file_range");
	if (ms != NULL && atof(ms) > 0)
		delay_ns = (uint64_t)(atof(ms) * 1e6);
	if (path == NULL || *path == '\0')
		return;
	if ((fd = open(path, O_RDWR | O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &st) == -1 || st.st_size < SHIM_SIZE) {
		close(fd);
		return;
	}
	p = mmap(NULL, SHIM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return;
	if (shared_setup(p) != 0) {
		munmap(p, SHIM_SIZE);
		return;
	}
	sh = p;
}

/* A flusher that died mid-flush would hold everyone: take over. */
static void
check_stale(void)
{
	uint64_t limit = 10 * delay_ns + 1000000000u;

	if (!sh->busy)
		return;
	if ((sh->flusher > 0 && kill(sh->flusher, 0) == -1 &&
	    errno == ESRCH) || now_ns() - sh->busy_since > limit) {
		sh->busy = 0;
		pthread_cond_broadcast(&sh->cv);
	}
}

/* With the lock held: begin a flush; its number. */
static uint64_t
flush_begin(void)
{
	sh->busy = 1;
	sh->flusher = (int32_t)getpid();
	sh->busy_since = now_ns();
	return ++sh->started;
}

/* Without the lock: flush gen, begun at t0, is over. */
static void
flush_end(uint64_t gen, uint64_t t0)
{
	lock();
	if (gen > sh->completed)
		sh->completed = gen;
	sh->busy = 0;
	sh->flushes++;
	sh->flush_ns += now_ns() - t0;
	pthread_cond_broadcast(&sh->cv);
	pthread_mutex_unlock(&sh->mu);
}

/* Sleep what is left of D since t0. */
static void
make_up(uint64_t t0)
{
	uint64_t spent = now_ns() - t0;

	if (spent < delay_ns)
		sleep_ns(delay_ns - spent);
}

/*
 * A request that arrived while flush target-1 was in progress, its real
 * call done: wait until flush target (or a later one) has completed,
 * running it if nobody else does.  Called with the lock held; returns
 * without it.
 */
static void
wait_for(uint64_t target)
{
	struct timespec ts;
	uint64_t gen, t0, w;

	while (sh->completed < target) {
		if (!sh->busy) {
			gen = flush_begin();
			t0 = sh->busy_since;
			pthread_mutex_unlock(&sh->mu);
			make_up(t0);
			flush_end(gen, t0);
			return;
		}
		/* Wake up now and then to notice a dead flusher. */
		w = now_ns() + delay_ns + 100000000u;
		ts.tv_sec = (time_t)(w / 1000000000u);
		ts.tv_nsec = (long)(w % 1000000000u);
		if (pthread_cond_timedwait(&sh->cv, &sh->mu, &ts) ==
		    EOWNERDEAD)
			pthread_mutex_consistent(&sh->mu);
		check_stale();
	}
	pthread_mutex_unlock(&sh->mu);
}

struct call {
	int		kind;		/* 0 fsync 1 fdatasync 2 syncfs 3 sfr */
	int		fd;
	off64_t		off, n;
	unsigned int	flags;
};

static int
do_call(const struct call *c)
{
	switch (c->kind) {
	case 0:
		return real_fsync(c->fd);
	case 1:
		return real_fdatasync(c->fd);
	case 2:
		return real_syncfs(c->fd);
	default:
		return real_sfr(c->fd, c->off, c->n, c->flags);
	}
}

/*
 * One request.  With no flush in progress it starts one at once: its
 * real call is part of that flush, which lasts at least D.  Otherwise
 * it makes its real call meanwhile and waits for the next flush.
 */
static int
wrapped(const struct call *c, uint64_t *counter)
{
	uint64_t gen, t0, target;
	int rv, saved;

	lock();
	sh->requests++;
	(*counter)++;
	if (!sh->busy) {
		gen = flush_begin();
		t0 = sh->busy_since;
		pthread_mutex_unlock(&sh->mu);
		rv = do_call(c);
		saved = errno;
		make_up(t0);
		flush_end(gen, t0);
	} else {
		target = sh->started + 1;
		pthread_mutex_unlock(&sh->mu);
		rv = do_call(c);
		saved = errno;
		lock();
		wait_for(target);
	}
	errno = saved;
	return rv;
}

int
fsync(int fd)
{
	struct call c = { 0, fd, 0, 0, 0 };

	if (real_fsync == NULL)
		shim_init();
	if (sh == NULL)
		return do_call(&c);
	return wrapped(&c, &sh->n_fsync);
}

int
fdatasync(int fd)
{
	struct call c = { 1, fd, 0, 0, 0 };

	if (real_fdatasync == NULL)
		shim_init();
	if (sh == NULL)
		return do_call(&c);
	return wrapped(&c, &sh->n_fdatasync);
}

int
syncfs(int fd)
{
	struct call c = { 2, fd, 0, 0, 0 };

	if (real_syncfs == NULL)
		shim_init();
	if (sh == NULL)
		return do_call(&c);
	return wrapped(&c, &sh->n_syncfs);
}

/* Only a call that waits for the write-out is a flush. */
int
sync_file_range(int fd, off64_t off, off64_t n, unsigned int flags)
{
	struct call c = { 3, fd, off, n, flags };

	if (real_sfr == NULL)
		shim_init();
	if (sh == NULL || !(flags & SYNC_FILE_RANGE_WAIT_AFTER))
		return do_call(&c);
	return wrapped(&c, &sh->n_sfr);
}
