/*
 * Log records: encode/decode round trips, and the scanner over damaged
 * segments: a torn tail at every offset, flipped bytes, corruption in the
 * middle, stale records and garbage between records.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

#include "queue/record.h"

#define NREC	12

/* A test segment: records back to back, with their offsets. */
struct seg {
	struct rec_buf	 b;
	size_t		 off[NREC + 1];		/* off[NREC] = end */
	uint64_t	 seq[NREC];
	uint64_t	 qid[NREC];
	uint8_t		 type[NREC];
};

/* What a scan reported. */
struct seen {
	size_t		 n;
	struct rec_item	 it[4 * NREC];
};

static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	rng_state = rng_state * 1103515245 + 12345;
	return rng_state >> 8;
}

static void
collect(void *arg, const struct rec_item *it)
{
	struct seen *s = arg;

	if (s->n < sizeof(s->it) / sizeof(s->it[0]))
		s->it[s->n++] = *it;
}

/* Records of every type, sizes varying; seq first_seq, first_seq+1... */
static void
seg_build(struct seg *g, uint64_t first_seq)
{
	unsigned char payload[700];
	struct rec_buf p;
	struct rec_outcome o;
	size_t i, j, len;

	memset(g, 0, sizeof(*g));
	for (i = 0; i < NREC; i++) {
		memset(&p, 0, sizeof(p));
		g->off[i] = g->b.len;
		g->seq[i] = first_seq + i;
		g->qid[i] = 1000 + i / 3;
		g->type[i] = REC_DATA;
		if (i % 4 == 3) {
			memset(&o, 0, sizeof(o));
			o.rcpt = (uint32_t)i;
			o.status = REC_OUT_DEFERRED;
			o.dsn = "4.4.1";
			o.reason = "connection refused";
			rec_outcome_encode(&p, &o);
			g->type[i] = REC_OUTCOME;
		} else {
			len = 1 + rng() % sizeof(payload);
			for (j = 0; j < len; j++)
				payload[j] = (unsigned char)(1 + rng() % 255);
			rec_data_encode(&p, (uint32_t)i, payload, len);
		}
		rec_encode(&g->b, g->type[i], g->seq[i], g->qid[i], p.p,
		    p.len);
		rec_buf_free(&p);
	}
	g->off[NREC] = g->b.len;
}

static void
scan(const unsigned char *buf, size_t len, uint64_t prev, struct seen *s,
    struct rec_scan *sc)
{
	memset(s, 0, sizeof(*s));
	memset(sc, 0, sizeof(*sc));
	sc->buf = buf;
	sc->len = len;
	sc->prev_seq = prev;
	rec_scan(sc, collect, s);
}

static void
test_header_roundtrip(void)
{
	unsigned char out[REC_HDR_SIZE];
	struct rec_hdr h = { REC_COMMIT, 0, 1234, 987654321ULL,
	    0x0123456789abcdefULL, 0xdeadbeef }, d;
	size_t i;

	rec_hdr_encode(&h, out);
	CU_ASSERT_EQUAL(rec_get32(out), REC_MAGIC);
	CU_ASSERT_EQUAL(out[0], 'B');
	CU_ASSERT_EQUAL(rec_hdr_decode(out, &d), 0);
	CU_ASSERT_EQUAL(d.type, REC_COMMIT);
	CU_ASSERT_EQUAL(d.len, 1234);
	CU_ASSERT_EQUAL(d.seq, 987654321ULL);
	CU_ASSERT_EQUAL(d.qid, 0x0123456789abcdefULL);
	CU_ASSERT_EQUAL(d.pcrc, 0xdeadbeef);
	/* Any single flipped bit is caught. */
	for (i = 0; i < REC_HDR_SIZE * 8; i++) {
		out[i / 8] ^= (unsigned char)(1 << (i % 8));
		CU_ASSERT_EQUAL(rec_hdr_decode(out, &d), -1);
		out[i / 8] ^= (unsigned char)(1 << (i % 8));
	}
	/* A well-checksummed header with a bad length or type fails too. */
	h.len = REC_MAX_PAYLOAD + 1;
	rec_hdr_encode(&h, out);
	CU_ASSERT_EQUAL(rec_hdr_decode(out, &d), -1);
	h.len = 1;
	h.type = 99;
	rec_hdr_encode(&h, out);
	CU_ASSERT_EQUAL(rec_hdr_decode(out, &d), -1);
	h.type = REC_SEGMENT;		/* segment records carry no qid */
	rec_hdr_encode(&h, out);
	CU_ASSERT_EQUAL(rec_hdr_decode(out, &d), -1);
}

static void
test_commit_roundtrip(void)
{
	struct rec_rcpt rc[3] = { { "a@example.test", REC_DISP_DELIVER },
	    { "postmaster", REC_DISP_DELIVER },
	    { "\"q u\"@[127.0.0.1]", REC_DISP_HOLD } };
	struct rec_commit c = { 2, 4567, 1700000000, 1000, REC_CF_MAILDROP,
	    "", "127.0.0.1", "localhost", "helo.example", 3, rc }, d;
	struct rec_buf b = { 0 };
	size_t cut;

	CU_ASSERT_EQUAL(rec_commit_encode(&b, &c), 0);
	CU_ASSERT_EQUAL(rec_commit_decode(b.p, b.len, &d), 0);
	CU_ASSERT_EQUAL(d.ndata, 2);
	CU_ASSERT_EQUAL(d.size, 4567);
	CU_ASSERT_EQUAL(d.arrival, 1700000000);
	CU_ASSERT_EQUAL(d.local_uid, 1000);
	CU_ASSERT_EQUAL(d.flags, REC_CF_MAILDROP);
	CU_ASSERT_STRING_EQUAL(d.sender, "");
	CU_ASSERT_STRING_EQUAL(d.client_addr, "127.0.0.1");
	CU_ASSERT_STRING_EQUAL(d.client_name, "localhost");
	CU_ASSERT_STRING_EQUAL(d.helo, "helo.example");
	CU_ASSERT_EQUAL_FATAL(d.nrcpt, 3);
	CU_ASSERT_STRING_EQUAL(d.rcpt[0].addr, "a@example.test");
	CU_ASSERT_STRING_EQUAL(d.rcpt[1].addr, "postmaster");
	CU_ASSERT_STRING_EQUAL(d.rcpt[2].addr, "\"q u\"@[127.0.0.1]");
	CU_ASSERT_EQUAL(d.rcpt[2].disp, REC_DISP_HOLD);
	rec_commit_free(&d);
	/* Every truncation, and a trailing byte, is malformed. */
	for (cut = 0; cut < b.len; cut++)
		CU_ASSERT_EQUAL(rec_commit_decode(b.p, cut, &d), -1);
	rec_buf_u8(&b, 0);
	CU_ASSERT_EQUAL(rec_commit_decode(b.p, b.len, &d), -1);
	rec_buf_free(&b);
}

static void
test_commit_rejects(void)
{
	struct rec_buf b = { 0 };
	struct rec_commit d;
	size_t i;

	/* A NUL inside a string. */
	rec_buf_u32(&b, 1);
	rec_buf_u64(&b, 1);
	rec_buf_u64(&b, 1);
	rec_buf_u32(&b, 0);
	rec_buf_u32(&b, 0);
	rec_buf_u32(&b, 3);
	rec_buf_add(&b, "a\0b", 3);
	for (i = 0; i < 3; i++)
		rec_buf_str(&b, "x");
	rec_buf_u32(&b, 1);
	rec_buf_u8(&b, 0);
	rec_buf_str(&b, "r@x");
	CU_ASSERT_EQUAL(rec_commit_decode(b.p, b.len, &d), -1);
	rec_buf_free(&b);

	/* A huge recipient count is refused before anything is allocated. */
	rec_buf_u32(&b, 1);
	rec_buf_u64(&b, 1);
	rec_buf_u64(&b, 1);
	rec_buf_u32(&b, 0);
	rec_buf_u32(&b, 0);
	for (i = 0; i < 4; i++)
		rec_buf_str(&b, "x");
	rec_buf_u32(&b, 0xffffffffU);
	CU_ASSERT_EQUAL(rec_commit_decode(b.p, b.len, &d), -1);
	rec_buf_free(&b);
}

static void
test_other_roundtrips(void)
{
	struct rec_outcome o = { 7, REC_OUT_DEFERRED, 3, 1700001234,
	    "4.4.1", "connect to x: refused", "[192.0.2.1]:25",
	    "451 4.4.1 try later" }, od;
	struct rec_segment s = { REC_SEGMENT_VERSION, 42, 1 << 20, 77, 41,
	    5000 }, sd;
	const unsigned char *content;
	struct rec_buf b = { 0 };
	uint32_t index;
	size_t clen;

	rec_outcome_encode(&b, &o);
	CU_ASSERT_EQUAL(rec_outcome_decode(b.p, b.len, &od), 0);
	CU_ASSERT_EQUAL(od.rcpt, 7);
	CU_ASSERT_EQUAL(od.status, REC_OUT_DEFERRED);
	CU_ASSERT_EQUAL(od.attempts, 3);
	CU_ASSERT_EQUAL(od.next_try, 1700001234);
	CU_ASSERT_STRING_EQUAL(od.dsn, "4.4.1");
	CU_ASSERT_STRING_EQUAL(od.reason, "connect to x: refused");
	CU_ASSERT_STRING_EQUAL(od.remote, "[192.0.2.1]:25");
	CU_ASSERT_STRING_EQUAL(od.reply, "451 4.4.1 try later");
	rec_outcome_free(&od);
	CU_ASSERT_EQUAL(rec_outcome_decode(b.p, b.len - 1, &od), -1);
	rec_buf_free(&b);

	rec_segment_encode(&b, &s);
	CU_ASSERT_EQUAL(rec_segment_decode(b.p, b.len, &sd), 0);
	CU_ASSERT_EQUAL(sd.segno, 42);
	CU_ASSERT_EQUAL(sd.size, 1 << 20);
	CU_ASSERT_EQUAL(sd.qid_floor, 77);
	CU_ASSERT_EQUAL(sd.prev_segno, 41);
	CU_ASSERT_EQUAL(sd.prev_len, 5000);
	CU_ASSERT_EQUAL(b.len, REC_SEGMENT_PAYLOAD);
	/* Another version is not ours to read. */
	b.p[0] ^= 0x07;
	CU_ASSERT_EQUAL(rec_segment_decode(b.p, b.len, &sd), -1);
	rec_buf_free(&b);

	rec_data_encode(&b, 5, "hello\r\n", 7);
	CU_ASSERT_EQUAL(rec_data_decode(b.p, b.len, &index, &content, &clen),
	    0);
	CU_ASSERT_EQUAL(index, 5);
	CU_ASSERT_EQUAL(clen, 7);
	CU_ASSERT_EQUAL(memcmp(content, "hello\r\n", 7), 0);
	CU_ASSERT_EQUAL(rec_data_decode(b.p, 3, &index, &content, &clen), -1);
	rec_buf_free(&b);
}

static void
test_scan_clean(void)
{
	struct rec_scan sc;
	struct seen s;
	struct seg g;
	unsigned char *buf;
	size_t i, total;

	seg_build(&g, 1);
	scan(g.b.p, g.b.len, 0, &s, &sc);
	CU_ASSERT_EQUAL(sc.nrecords, NREC);
	CU_ASSERT_EQUAL(sc.valid_end, g.b.len);
	CU_ASSERT_EQUAL(sc.tail_len, 0);
	CU_ASSERT_EQUAL(sc.last_seq, NREC);
	CU_ASSERT_EQUAL_FATAL(s.n, NREC);
	for (i = 0; i < NREC; i++) {
		CU_ASSERT_EQUAL(s.it[i].kind, REC_ITEM_RECORD);
		CU_ASSERT_EQUAL(s.it[i].off, g.off[i]);
		CU_ASSERT_EQUAL(s.it[i].hdr.seq, g.seq[i]);
		CU_ASSERT_EQUAL(s.it[i].hdr.qid, g.qid[i]);
		CU_ASSERT_EQUAL(s.it[i].hdr.type, g.type[i]);
	}
	/* The zero-filled rest of a preallocated segment is no damage. */
	total = g.b.len + 4096;
	buf = calloc(1, total);
	memcpy(buf, g.b.p, g.b.len);
	scan(buf, total, 0, &s, &sc);
	CU_ASSERT_EQUAL(sc.nrecords, NREC);
	CU_ASSERT_EQUAL(sc.valid_end, g.b.len);
	CU_ASSERT_EQUAL(sc.tail_len, 0);
	free(buf);
	rec_buf_free(&g.b);
}

/* How many records end at or before offset cut. */
static size_t
complete_before(const struct seg *g, size_t cut)
{
	size_t k = 0;

	while (k < NREC && g->off[k + 1] <= cut)
		k++;
	return k;
}

static void
check_prefix(const struct seg *g, const struct seen *s,
    const struct rec_scan *sc, size_t keep)
{
	size_t i, nrec = 0;

	for (i = 0; i < s->n; i++)
		if (s->it[i].kind == REC_ITEM_RECORD) {
			CU_ASSERT_EQUAL(s->it[i].hdr.seq, g->seq[nrec]);
			nrec++;
		}
	CU_ASSERT_EQUAL(nrec, keep);
	CU_ASSERT_EQUAL(sc->nrecords, keep);
	CU_ASSERT_EQUAL(sc->valid_end, g->off[keep]);
}

/*
 * The torn tail: the log cut at every offset inside its last three
 * records, the rest missing (truncated file) or zero (preallocated).
 */
static void
test_torn_tail_every_offset(void)
{
	struct rec_scan sc;
	struct seen s;
	struct seg g;
	unsigned char *buf;
	size_t cut, keep, total;

	seg_build(&g, 1);
	total = g.b.len + 1024;
	buf = malloc(total);
	for (cut = g.off[NREC - 3]; cut < g.b.len; cut++) {
		keep = complete_before(&g, cut);
		scan(g.b.p, cut, 0, &s, &sc);
		check_prefix(&g, &s, &sc, keep);
		CU_ASSERT(sc.valid_end + sc.tail_len <= cut);
		if (cut > g.off[keep]) {
			CU_ASSERT(sc.tail_len > 0);
		}

		memset(buf, 0, total);
		memcpy(buf, g.b.p, cut);
		/* A record whose missing bytes were zeros reads whole. */
		while (keep < NREC && memcmp(buf + g.off[keep],
		    g.b.p + g.off[keep], g.off[keep + 1] - g.off[keep]) == 0)
			keep++;
		scan(buf, total, 0, &s, &sc);
		check_prefix(&g, &s, &sc, keep);
		CU_ASSERT(sc.valid_end + sc.tail_len <= g.off[keep] ||
		    sc.valid_end + sc.tail_len <= cut);
	}
	free(buf);
	rec_buf_free(&g.b);
}

/* A flipped byte anywhere in the last record leaves all others intact. */
static void
test_flip_last_record(void)
{
	struct rec_scan sc;
	struct seen s;
	struct seg g;
	size_t pos;

	seg_build(&g, 1);
	for (pos = g.off[NREC - 1]; pos < g.b.len; pos++) {
		g.b.p[pos] ^= 0x55;
		scan(g.b.p, g.b.len, 0, &s, &sc);
		check_prefix(&g, &s, &sc, NREC - 1);
		CU_ASSERT(sc.tail_len > 0);
		g.b.p[pos] ^= 0x55;
	}
	rec_buf_free(&g.b);
}

/*
 * Corruption in the middle: a flipped byte in record k.  In its payload:
 * one DAMAGED item for exactly that record.  In its header: one SKIPPED
 * run covering exactly that record.  Every record after it is kept.
 */
static void
test_corruption_middle(void)
{
	struct rec_scan sc;
	struct seen s;
	struct seg g;
	size_t k, pos, i, nrec, nbad;

	seg_build(&g, 1);
	for (k = 1; k < NREC - 1; k += 3) {
		for (pos = g.off[k]; pos < g.off[k + 1]; pos++) {
			g.b.p[pos] ^= 0x80;
			scan(g.b.p, g.b.len, 0, &s, &sc);
			nrec = nbad = 0;
			for (i = 0; i < s.n; i++) {
				if (s.it[i].kind == REC_ITEM_RECORD) {
					CU_ASSERT_NOT_EQUAL(s.it[i].hdr.seq,
					    g.seq[k]);
					nrec++;
					continue;
				}
				nbad++;
				CU_ASSERT_EQUAL(s.it[i].off, g.off[k]);
				CU_ASSERT_EQUAL(s.it[i].len,
				    g.off[k + 1] - g.off[k]);
				if (pos < g.off[k] + REC_HDR_SIZE) {
					CU_ASSERT_EQUAL(s.it[i].kind,
					    REC_ITEM_SKIPPED);
				} else {
					CU_ASSERT_EQUAL(s.it[i].kind,
					    REC_ITEM_DAMAGED);
					CU_ASSERT_EQUAL(s.it[i].hdr.seq,
					    g.seq[k]);
					CU_ASSERT_EQUAL(s.it[i].hdr.qid,
					    g.qid[k]);
				}
			}
			CU_ASSERT_EQUAL(nrec, NREC - 1);
			CU_ASSERT_EQUAL(nbad, 1);
			CU_ASSERT_EQUAL(sc.valid_end, g.b.len);
			CU_ASSERT_EQUAL(sc.tail_len, 0);
			g.b.p[pos] ^= 0x80;
		}
	}
	rec_buf_free(&g.b);
}

/* Garbage between two records is skipped exactly; nothing is lost. */
static void
test_garbage_between(void)
{
	struct rec_buf b = { 0 };
	struct rec_scan sc;
	struct seen s;
	struct seg g;
	size_t k = 5, i, glen = 333;

	seg_build(&g, 1);
	rec_buf_add(&b, g.b.p, g.off[k]);
	for (i = 0; i < glen; i++)
		rec_buf_u8(&b, (uint8_t)(rng() | 1));
	rec_buf_add(&b, g.b.p + g.off[k], g.b.len - g.off[k]);
	scan(b.p, b.len, 0, &s, &sc);
	CU_ASSERT_EQUAL(sc.nrecords, NREC);
	CU_ASSERT_EQUAL(sc.nskipped, glen);
	CU_ASSERT_EQUAL(sc.valid_end, b.len);
	CU_ASSERT_EQUAL(s.it[k].kind, REC_ITEM_SKIPPED);
	CU_ASSERT_EQUAL(s.it[k].off, g.off[k]);
	CU_ASSERT_EQUAL(s.it[k].len, glen);
	rec_buf_free(&b);
	rec_buf_free(&g.b);
}

/* Stale records (older sequence numbers) after the end never pass. */
static void
test_stale_records(void)
{
	struct rec_buf b = { 0 };
	struct rec_scan sc;
	struct seen s;
	struct seg old, cur;

	seg_build(&old, 1);
	seg_build(&cur, 100);
	/* A reused space: new records over the start of old ones. */
	rec_buf_add(&b, cur.b.p, cur.off[4]);
	rec_buf_add(&b, old.b.p + old.off[6], old.b.len - old.off[6]);
	scan(b.p, b.len, 99, &s, &sc);
	CU_ASSERT_EQUAL(sc.nrecords, 4);
	CU_ASSERT_EQUAL(sc.valid_end, cur.off[4]);
	CU_ASSERT(sc.tail_len > 0);
	CU_ASSERT_EQUAL(sc.last_seq, 103);
	/* Nothing at or below prev_seq is accepted at all. */
	scan(cur.b.p, cur.b.len, 100 + NREC, &s, &sc);
	CU_ASSERT_EQUAL(sc.nrecords, 0);
	CU_ASSERT_EQUAL(sc.valid_end, 0);
	rec_buf_free(&b);
	rec_buf_free(&old.b);
	rec_buf_free(&cur.b);
}

/*
 * After damage, a valid-looking record whose sequence number jumps
 * further than the damaged bytes allow is not a resync point.
 */
static void
test_implausible_resync(void)
{
	struct rec_buf b = { 0 };
	struct rec_scan sc;
	struct seen s;
	struct seg g;
	size_t i;

	seg_build(&g, 1);
	rec_buf_add(&b, g.b.p, g.off[3]);
	for (i = 0; i < 40; i++)
		rec_buf_u8(&b, 0xee);
	rec_encode(&b, REC_DATA, 5000, 77, "\0\0\0\0x", 5);
	rec_encode(&b, REC_DATA, 5001, 77, "\1\0\0\0y", 5);
	scan(b.p, b.len, 0, &s, &sc);
	CU_ASSERT_EQUAL(sc.nrecords, 3);
	CU_ASSERT_EQUAL(sc.valid_end, g.off[3]);
	CU_ASSERT(sc.tail_len > 0);
	rec_buf_free(&b);
	rec_buf_free(&g.b);
}

static CU_TestInfo tests[] = {
	{ "header round trip and bit flips", test_header_roundtrip },
	{ "commit round trip and truncations", test_commit_roundtrip },
	{ "commit rejects bad strings and counts", test_commit_rejects },
	{ "outcome, segment, data round trips", test_other_roundtrips },
	{ "scan of a clean segment", test_scan_clean },
	{ "torn tail at every offset", test_torn_tail_every_offset },
	{ "flipped bytes in the last record", test_flip_last_record },
	{ "corruption in the middle", test_corruption_middle },
	{ "garbage between records", test_garbage_between },
	{ "stale records never pass", test_stale_records },
	{ "implausible resync refused", test_implausible_resync },
	CU_TEST_INFO_NULL
};

UNIT_MAIN("record", tests)
