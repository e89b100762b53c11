/*
 * Fuzz the IPC frame reader: arbitrary bytes as what a peer process
 * wrote on a channel.  The getters end the process on a garbled frame,
 * by design, so the frames are cut and decoded with the layer under
 * them (ipc_frame_len, ipc_take_*), which must reject every short field,
 * NUL in a string and bad header, never read outside the frame, and
 * leave the reader untouched when it refuses.  Each frame is decoded by
 * the layout ipc.h gives its type and again by field kinds drawn from
 * its id.  Then the frames up to the first garbled one (or one that
 * announces a descriptor) go through a real channel on a socket pair,
 * which must hand over exactly those frames, byte for byte.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define HDR_LEN		sizeof(struct ipc_hdr)

/* One field through the non-fatal layer, checking what it did. */
static int
take(struct ipc_reader *rd, char kind, uint32_t *count)
{
	const struct ipc_reader was = *rd;
	const unsigned char *end = rd->p + rd->left;
	const void *d;
	uint64_t q;
	uint32_t u;
	size_t len, used;
	char *s;
	int rv;

	switch (kind) {
	case 'u':
		rv = ipc_take_u32(rd, &u);
		used = sizeof(u);
		if (rv == 0 && count != NULL)
			*count = u;
		break;
	case 'q':
		rv = ipc_take_u64(rd, &q);
		used = sizeof(q);
		break;
	case 's':
		if ((rv = ipc_take_str(rd, &s)) == 0) {
			len = strlen(s);
			used = sizeof(u) + len;
			if (memcmp(s, was.p + sizeof(u), len) != 0)
				abort();
			free(s);
		} else
			used = 0;
		break;
	default:
		if ((rv = ipc_take_data(rd, &d, &len)) == 0) {
			used = sizeof(u) + len;
			if ((const unsigned char *)d != was.p + sizeof(u))
				abort();
		} else
			used = 0;
		break;
	}
	if (rv == -1) {
		if (memcmp(rd, &was, sizeof(was)) != 0)
			abort();
		if (kind != 's' && kind != 'd' && was.left >= used)
			abort();
		return -1;
	}
	if (rv != 0 || used > was.left || rd->p != was.p + used ||
	    rd->left != was.left - used || rd->p + rd->left != end)
		abort();
	return 0;
}

/* Field layouts from ipc.h; '*' repeats the rest as often as the last u32. */
static const char *
layout(uint16_t type)
{
	switch (type) {
	case IMSG_CONFIG:		return "ss";
	case IMSG_CONFIG_RESULT:	return "us";
	case IMSG_PEER:			return "u";
	case IMSG_LISTEN:		return "us";
	case IMSG_QUEUE_STATUS:		return "s";
	case IMSG_POLICY_MAIL:		return "suss";
	case IMSG_POLICY_RCPT:		return "suss";
	case IMSG_POLICY_VERDICT:	return "uss";
	case IMSG_MSG_QID:		return "uss";
	case IMSG_MSG_CHUNK:		return "d";
	case IMSG_MSG_COMMIT:		return "ssssuqu*s";
	case IMSG_MSG_RESULT:		return "uss";
	case IMSG_COMMIT_LATENCY:	return "u*q";
	case IMSG_DELIVER_BEGIN:	return "ssqqu*us";
	case IMSG_DELIVER_CHUNK:	return "d";
	case IMSG_DELIVER_RCPT:		return "uussss";
	}
	return "";
}

static void
decode(const struct ipc_hdr *hdr, const unsigned char *payload)
{
	struct ipc_reader rd;
	const char *l, *rep;
	uint32_t count = 0, i;
	uint64_t pick;
	int k;

	memset(&rd, 0, sizeof(rd));
	rd.hdr = hdr;
	rd.p = payload;
	rd.left = hdr->len;
	rd.peer = "fuzz";
	rd.fd = IPC_NO_FD;
	for (l = layout(hdr->type); *l != '\0' && *l != '*'; l++)
		if (take(&rd, *l, &count) == -1)
			break;
	if (*l == '*')
		for (i = 0, rep = l + 1; i < count; i++)
			for (l = rep; *l != '\0'; l++)
				if (take(&rd, *l, NULL) == -1)
					return;

	/* Again from the start, two bits of the id per field. */
	rd.p = payload;
	rd.left = hdr->len;
	for (pick = hdr->id, k = 0; k < 32; k++, pick >>= 2)
		if (take(&rd, "uqsd"[pick & 3], NULL) == -1)
			break;
}

struct feed {
	const unsigned char	*wire;
	size_t			 off;		/* next expected frame */
	size_t			 end;		/* past the last whole one */
	int			 closed;
};

static void
on_frame(struct ipc_chan *c, struct ipc_reader *rd, void *arg)
{
	struct feed *f = arg;
	struct ipc_hdr want;

	if (f->off >= f->end)
		abort();
	memcpy(&want, f->wire + f->off, HDR_LEN);
	if (memcmp(rd->hdr, &want, HDR_LEN) != 0 || rd->left != want.len ||
	    rd->fd != IPC_NO_FD ||
	    memcmp(rd->p, f->wire + f->off + HDR_LEN, want.len) != 0)
		abort();
	f->off += HDR_LEN + want.len;
}

static void
on_closed(struct ipc_chan *c, void *arg)
{
	((struct feed *)arg)->closed = 1;
}

/* wire[0, whole) holds whole frames, wire[whole, len) a partial one. */
static void
through_channel(const unsigned char *wire, size_t whole, size_t len)
{
	struct feed f = { wire, 0, whole, 0 };
	struct event_base *base;
	struct ipc_chan *c;
	size_t off = 0, n;
	ssize_t w;
	int sv[2], i;

	if (len == 0)
		return;
	if ((base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	c = ipc_chan_new(base, sv[1], "fuzz", on_frame, on_closed, &f);
	/* Small and odd pieces, read as they come. */
	for (i = 0; off < len; i++) {
		n = (size_t)(1 + (i * 7919) % 97);
		if (n > len - off)
			n = len - off;
		if ((w = write(sv[0], wire + off, n)) <= 0)
			abort();
		off += (size_t)w;
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	close(sv[0]);
	for (i = 0; i < 1000 && !f.closed; i++)
		event_base_loop(base, EVLOOP_ONCE);
	if (!f.closed || f.off != whole)
		abort();
	ipc_chan_free(c);
	event_base_free(base);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *wire;
	struct ipc_hdr hdr;
	size_t off = 0, whole = 0, clean = 0;
	ssize_t n;
	int stop = 0;

	/* Exactly size bytes, so reading past them is caught. */
	if ((wire = malloc(size ? size : 1)) == NULL)
		abort();
	memcpy(wire, data, size);
	while (off < size) {
		n = ipc_frame_len(wire + off, size - off, &hdr);
		if (n == -1) {
			if (ipc_hdr_ok(&hdr))
				abort();
			break;
		}
		if (n == 0) {
			if (size - off >= HDR_LEN &&
			    (!ipc_hdr_ok(&hdr) ||
			    size - off >= HDR_LEN + hdr.len))
				abort();
			if (!stop)
				clean = size;
			stop = 1;
			break;
		}
		if ((size_t)n != HDR_LEN + hdr.len || (size_t)n > size - off ||
		    hdr.len > IPC_MAX_PAYLOAD || hdr.has_fd > 1 ||
		    memcmp(&hdr, wire + off, HDR_LEN) != 0)
			abort();
		decode(&hdr, wire + off + HDR_LEN);
		/* The channel part stops before a descriptor frame. */
		if (hdr.has_fd && !stop) {
			clean = off;
			stop = 1;
		}
		off += (size_t)n;
		if (!stop)
			whole = off;
	}
	if (!stop)
		clean = off;
	through_channel(wire, whole, clean);
	free(wire);
	return 0;
}
