"""Nothing acknowledged is lost: the crash matrix, and a full disk.

CrashMatrix crashes the daemon again and again under sustained load from
several concurrent senders (harness.Load), each of which records the
Message-ID of every message that got "250 ... queued as ID".  Every case
runs twice: with kill -9, and with the test build's power cut (SIGUSR2
to the queue: every segment cut to its last synced length, the spare's
unsynced directory entry dropped), since kill -9 alone leaves unsynced
data in the kernel.  A power cut only reaches the queue; where a case
kills every process, the others get kill -9.

  queue       the queue process alone (the master restarts it)
  everything  every Bulwark process at once (a new master starts)
  rotation    the queue, just after a new segment appeared in log/
  recovery    the queue again and again while it reads a log of
              thousands of deferred messages, before it takes mail
  compaction  the queue while it copies live messages forward in the
              cold log

After each round every message acknowledged so far must have arrived
(Maildir or relayhost sink, by Message-ID).  A message may arrive twice:
it was delivered, but its OUTCOME record was not yet durable when the
queue died, or an agent finished a job after the queue that handed it
out had died.  Outcomes are synced within one idle-sync interval
(QUEUE_IDLE_SYNC_MS, 500 ms) or sooner by a commit's sync, so the copy
before a repeat must have arrived within that interval (plus slack for
the report and the sync itself) of a crash: a copy further from every
crash means a synced outcome was lost or ignored.  Each round prints
its counts.

CRASH_ROUNDS sets the rounds per case (default 2, as make check runs
them; make crash-matrix runs 20).  The full-disk tests kill nothing, so
there each message arrives exactly once.
"""

import os
import random
import re
import signal
import subprocess
import time
import unittest

import harness
from harness import BulwarkTest

REMOTE = harness.Load.REMOTE
PAD = harness.Load.PAD

ROUNDS = max(1, int(os.environ.get("CRASH_ROUNDS", "2")))
# The queue syncs OUTCOME and DONE records this long after they were
# written (queue/queue.h QUEUE_IDLE_SYNC_MS), unless a commit does first.
SYNC_INTERVAL = 0.5
# How much older than that the copy before a repeat may be: delivery to
# report, the I/O thread's current batch and its fdatasync, on two cores
# shared with the senders and sanitizers.
REPEAT_SLACK = 1.0
REPEAT_WINDOW = SYNC_INTERVAL + REPEAT_SLACK
# Load per round, at least (seconds, messages acknowledged).
LOAD_SECONDS = 1.0
LOAD_LEAST = 100
# The master restarts a child after 1 s, 2 s, 4 s...: after this many
# queue restarts a clean stop and start resets the back-off.
QUEUE_RESTARTS_PER_MASTER = 2
# Deferred messages behind the recovery case, and kills per round while
# the queue reads them.
BACKLOG = 3000
RECOVERY_KILLS = 2
MODE_NAMES = {"kill9": "kill -9", "cut": "power cut"}


class CrashTest(BulwarkTest):
    """A full log disk, with and without a restart."""

    def check_all_delivered(self, d, acked, what, sink=None, once=False):
        """Every acknowledged message arrives (in the Maildir or at the
        sink); with once, none of them twice."""
        mbox = d.maildir("someone")

        def arrived():
            have = harness.message_ids(mbox)
            if sink is not None:
                for mid, n in sink.message_ids().items():
                    have[mid] = have.get(mid, 0) + n
            return have

        def complete():
            have = arrived()
            return all(m in have for m in acked)
        if sink is not None:
            d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        harness.wait_until(complete, 90, step=0.5)
        have = arrived()
        lost = sorted(m for m in acked if m not in have)
        twice = sum(1 for m in acked if have.get(m, 0) > 1)
        print("\n    %s: %d acknowledged, %d lost, %d delivered twice"
              % (what, len(acked), len(lost), twice))
        self.assertEqual(lost, [], "%s: acknowledged messages lost (of %d)"
                         % (what, len(acked)))
        if once:
            self.assertEqual(twice, 0, "%s: messages delivered twice"
                             % what)

    def assert_once_after_restart(self, d, sink, tag):
        """Restart d, then send a marker: once the marker has reached
        the sink and the queue is empty, anything the restart would
        deliver again has arrived too, so every Message-ID must be
        there exactly once."""
        d.stop()
        d.start()
        marker = "<%s-marker@client.test>" % tag
        msg = ("From: a@example.org\r\nMessage-ID: %s\r\n\r\nmarker\r\n"
               % marker).encode()
        code, text = d.send(msg, rcpts=[REMOTE])
        self.assertEqual(code, 250, text)
        self.assertTrue(harness.wait_until(
            lambda: marker in sink.message_ids(), 60, step=0.2),
            "the marker never reached the relayhost")
        self.assertTrue(harness.wait_until(d.queue_empty, 30, step=0.5),
                        "the queue did not empty:\n%s" % d.mailq())
        twice = sorted(m for m, n in sink.message_ids().items() if n > 1)
        self.assertEqual(twice, [], "delivered again after a restart")

    def small_log_daemon(self):
        """A daemon whose log/ and cold/ are each a 4 MiB tmpfs with
        1 MiB segments, relaying to a port where nothing listens yet.
        Both logs: deferred mail moves to the cold log, which would
        otherwise make room in log/ for ever."""
        if not harness.IS_ROOT:
            self.skipTest("needs root to mount a tmpfs")
        port = harness.free_port()
        d = self.daemon(start=False, segment_size="1M",
                        cold_segment_size="1M",
                        relayhost="[127.0.0.1]:%d" % port)
        for name in ("log", "cold"):
            where = os.path.join(d.spool, name)
            os.mkdir(where)
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m",
                                "tmpfs", where], capture_output=True)
            # As root the mount must work: a skip would hide it in CI.
            self.assertEqual(r.returncode, 0, "cannot mount a tmpfs: %s"
                             % r.stderr.decode("utf-8", "replace"))
            self.addCleanup(subprocess.run, ["umount", "-l", where],
                            capture_output=True)
        d.start()
        return d, port

    def fill(self, d, tag, body, most):
        """Send messages for REMOTE until one is refused (at most most).
        Returns ({Message-ID: queue id}, the refusal or None)."""
        acked = {}
        for i in range(most):
            mid = "<%s.%d@client.test>" % (tag, i)
            msg = ("From: a@example.org\r\nTo: %s\r\nMessage-ID: %s\r\n"
                   "\r\n%s" % (REMOTE, mid, body)).encode()
            code, text = d.send(msg, rcpts=[REMOTE])
            if code != 250:
                return acked, (code, text)
            acked[mid] = d.queue_id_from(text)
        return acked, None

    def test_full_disk_restart(self):
        """The same, with a restart while the log disk is full: the
        queue still gets the records that finish messages written,
        frees segments as it delivers, and takes mail again; nothing is
        delivered twice."""
        d, port = self.small_log_daemon()
        acked, refused = self.fill(d, "fullr", PAD * 2500, 100)  # 195 KiB
        self.assertIsNotNone(refused, "the disk never filled")
        self.assertEqual(refused[0], 452, refused)
        d.stop()
        d.start()
        sink = self.pysink(port=port)
        self.check_all_delivered(d, acked, "full disk, restarted", sink,
                                 once=True)

        def takes_mail():
            msg = (b"From: a@example.org\r\nMessage-ID: <after-r@x>\r\n"
                   b"\r\nafter\r\n")
            return d.send(msg, rcpts=[REMOTE])[0] == 250
        self.assertTrue(harness.wait_until(takes_mail, 60, step=1),
                        "still refusing mail after the queue emptied")
        self.assert_once_after_restart(d, sink, "fullr")

    def test_full_disk(self):
        """The log on a small filesystem that fills up: new mail gets
        452 4.3.1, what was acknowledged stays, and once the queue has
        delivered (and freed segments) it takes mail again by itself.
        Nothing is delivered twice after a restart."""
        d, port = self.small_log_daemon()
        acked, refused = self.fill(d, "full", PAD * 50, 3000)
        self.assertIsNotNone(refused, "the disk never filled")
        self.assertEqual((refused[0], refused[1][:5]), (452, "4.3.1"),
                         refused)
        self.assertGreater(len(acked), 100)
        sink = self.pysink(port=port)
        d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        self.check_all_delivered(d, acked, "full disk", sink, once=True)

        # Space came back as segments were freed: mail is taken again.
        def takes_mail():
            msg = (b"From: a@example.org\r\nMessage-ID: <after@x>\r\n"
                   b"\r\nafter\r\n")
            return d.send(msg, rcpts=[REMOTE])[0] == 250
        self.assertTrue(harness.wait_until(takes_mail, 60, step=1),
                        "still refusing mail after the queue emptied")
        self.assert_once_after_restart(d, sink, "full")


class CrashMatrix(BulwarkTest):
    """The crash matrix: five cases, each with kill -9 and a power cut,
    CRASH_ROUNDS rounds each."""

    # ------------------------------------------------------ bookkeeping

    def begin(self, case, mode, sink=True, start=True, **conf):
        """A daemon for one case; with sink, its relayhost is a sink that
        takes every message, and a fifth of the load goes there."""
        if mode == "cut" and not harness.TEST_HOOKS:
            self.skipTest("the power cut needs the test build (obj-san)")
        self.case = "%s, %s" % (case, MODE_NAMES[mode])
        self.mode = mode
        self.sinks = []
        if sink:
            self.sinks.append(self.stamped_sink())
            conf.setdefault("relayhost",
                            "[127.0.0.1]:%d" % self.sinks[0].port)
        d = self.daemon(start=start, **conf)
        self.arrivals = harness.Arrivals(d.maildir("someone"), self.sinks)
        self.acked = {}
        self.copies = {}
        self.total_repeats = 0
        self.worst_age = None
        print("\n    %s, %d round%s:" % (self.case, ROUNDS,
                                        "" if ROUNDS == 1 else "s"))
        return d

    def stamped_sink(self, port=0):
        s = harness.StampedSink(port=port)
        self.addCleanup(s.close)
        return s

    def load(self, d, rnd, remote=None, **kw):
        """Senders with Message-IDs unique to this test and round; a
        fifth of their mail (or remote_share) goes to remote."""
        tag = "%s-%s-%s" % (self.id().rsplit(".", 1)[-1][5:], rnd,
                            int(time.time() * 1000) % 100000)
        if self.sinks:
            kw.setdefault("remote_share", 5)
        load = harness.Load(d, tag, **kw)
        if remote:
            load.REMOTE = remote
        return load.start()

    def sustain(self, load, seconds=LOAD_SECONDS, least=LOAD_LEAST):
        """Let load run for seconds, and until least messages were
        acknowledged."""
        t0 = time.monotonic()
        if not harness.wait_until(
                lambda: (time.monotonic() - t0 >= seconds and
                         load.count() >= least), seconds + 60, step=0.02):
            load.halt()
            self.fail("only %d messages acknowledged in %ds"
                      % (load.count(), seconds + 60))

    def crash_queue(self, d):
        """kill -9 or power cut of the queue; (time, its pid)."""
        t = time.time()
        if self.mode == "cut":
            return t, harness.power_cut(d)
        return t, harness.kill_queue(d)

    def crash_everything(self, d):
        """Every process at once (after the queue's power cut, in that
        mode); returns the time."""
        if self.mode == "cut":
            t = time.time()
            harness.power_cut(d)
            harness.kill_tree(d)
            return t
        return harness.kill_tree(d)

    def taking_mail(self, d, load, gone=()):
        """After a crash: a queue that is not one of gone runs, and the
        senders get 250 again."""
        self.assertTrue(harness.wait_until(
            lambda: harness.role_pid(d, "queue", gone), 30, step=0.01),
            "no queue process after the crash:\n%s" % d.log_tail())
        n = load.count()
        if not harness.wait_until(lambda: load.count() >= n + 20, 60,
                                  step=0.02):
            load.halt()
            self.fail("no mail acknowledged after the crash:\n%s"
                      % d.log_tail())

    def repeats(self, crashes):
        """Copies beyond the first that arrived since the last call; for
        each, how far the copy before it lies from the nearest crash
        (the crash after it: its outcome was not durable yet; or the
        crash just before it: an agent finished a job the dead queue
        had handed out)."""
        ages = []
        for mid, times in self.arrivals.times.items():
            n, before = len(times), self.copies.get(mid, 0)
            if n > 1 and n > before:
                times = sorted(times)
                for k in range(max(before, 1), n):
                    prev = times[k - 1]
                    ages.append(min(abs(c - prev) for c in crashes))
            self.copies[mid] = n
        return ages

    def end_round(self, d, load, crashes, rnd, note="", keep=frozenset()):
        """Stop the load; every message acknowledged so far arrives,
        the queue then holds nothing but keep (queue ids), and every
        repeated delivery is of a copy from within a sync interval of
        a crash (crashes: their times, in order)."""
        crash_t = crashes[0]
        load.halt()
        self.acked.update(load.acked)
        lost = self.arrivals.wait_all(self.acked, 120)

        def settled():
            ids = harness.queued_ids(d)
            return ids is not None and ids <= keep
        calm = not lost and harness.wait_until(settled, 60, step=0.5)
        self.arrivals.refresh()
        ages = self.repeats(crashes)
        self.total_repeats += len(ages)
        worst = max(ages, default=None)
        if worst is not None:
            self.worst_age = max(worst, self.worst_age or worst)
        since = sum(1 for times in self.arrivals.times.values()
                    for t in times if crash_t - SYNC_INTERVAL <= t
                    <= crash_t)
        print("    r%d: %d acknowledged (%d in all), %d lost, %d "
              "delivered twice%s; %d delivered in the %.1f s before "
              "the crash%s" % (
                  rnd, load.count(), len(self.acked), len(lost),
                  len(ages), "" if worst is None else
                  " (the copies before: at most %.2f s from a crash)"
                  % worst, since, SYNC_INTERVAL,
                  "; " + note if note else ""))
        if lost:
            self.fail("%s, round %d: %d acknowledged messages lost (of "
                      "%d):\n%s" % (self.case, rnd, len(lost),
                                    len(self.acked), self.describe_lost(
                                        d, self.acked, lost)))
        self.assertTrue(calm, "%s, round %d: the queue never settled:\n%s"
                        % (self.case, rnd, d.mailq()[:3000]))
        self.assertLessEqual(
            worst or 0, REPEAT_WINDOW,
            "%s, round %d: a message delivered %.2f s from any crash "
            "was delivered again (the window is %.1f s)"
            % (self.case, rnd, worst or 0, REPEAT_WINDOW))

    def flush_until(self, d, mids, timeout):
        """Make every deferred message due (bulwarkctl flush) and wait
        for mids to arrive, flushing again every few seconds: a job that
        was out when the relayhost began to accept comes back deferred
        for another hour.  Returns the Message-IDs still missing."""
        end = time.monotonic() + timeout
        while True:
            d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
            left = self.arrivals.wait_all(
                mids, max(0, min(5, end - time.monotonic())))
            if not left or time.monotonic() >= end:
                return left

    def describe_lost(self, d, acked, lost):
        """The first lost messages: Message-ID, queue id, and what
        mailq says of it."""
        out = d.mailq()
        lines = []
        for mid in lost[:10]:
            qid = acked.get(mid)
            entry = harness.mailq_entry(out, qid) if qid else None
            lines.append("%s %s: %s" % (
                mid, qid, "not in the queue" if entry is None
                else "queued: " + " / ".join(entry.split("\n")[:3])))
        return "\n".join(lines)

    def summary(self):
        print("    %s: %d acknowledged, 0 lost, %d delivered twice%s"
              % (self.case, len(self.acked), self.total_repeats,
                 "" if self.worst_age is None else
                 " (copies before a repeat at most %.2f s from a "
                 "crash)" % self.worst_age))

    # ------------------------------------------------- 1, 3: the queue

    def queue_rounds(self, case, mode, rotation=False):
        """Crash the queue alone, in one daemon while the master's
        restart back-off stays short; with rotation, just after a new
        segment appeared in log/ (1 MiB segments, the smallest, and
        messages of about 1.7 KiB: a new segment every few hundred)."""
        if rotation:
            d = self.begin(case, mode, segment_size="1M")
        else:
            d = self.begin(case, mode)
        for rnd in range(ROUNDS):
            if rnd and rnd % QUEUE_RESTARTS_PER_MASTER == 0:
                d.stop()
                d.start()
            load = self.load(d, rnd, pad_lines=20 if rotation else 0)
            self.sustain(load)
            note = ""
            if rotation:
                seen = harness.wait_new_segment(d, 30)
                if seen is None:
                    load.halt()
                    self.fail("no new segment in log/ in 30 s of load")
            t, old = self.crash_queue(d)
            if rotation:
                note = "crash %.1f ms after segment %d appeared" % (
                    (t - seen[1]) * 1000, seen[0])
            self.taking_mail(d, load, gone=(old,))
            self.end_round(d, load, [t], rnd, note)
        self.summary()

    def test_queue_kill9(self):
        """kill -9 of the queue process alone."""
        self.queue_rounds("queue alone", "kill9")

    def test_queue_power_cut(self):
        """A power cut of the queue process alone."""
        self.queue_rounds("queue alone", "cut")

    def test_rotation_kill9(self):
        """kill -9 of the queue just after the log rotated."""
        self.queue_rounds("segment rotation", "kill9", rotation=True)

    def test_rotation_power_cut(self):
        """A power cut of the queue just after the log rotated."""
        self.queue_rounds("segment rotation", "cut", rotation=True)

    # ----------------------------------------------- 2: every process

    def everything_rounds(self, mode):
        """Every process at once; a new daemon on the same spool."""
        d = self.begin("every process", mode)
        for rnd in range(ROUNDS):
            load = self.load(d, rnd)
            self.sustain(load)
            t = self.crash_everything(d)
            d.start()
            self.taking_mail(d, load)
            self.end_round(d, load, [t], rnd)
        self.summary()

    def test_everything_kill9(self):
        """kill -9 of every Bulwark process at once."""
        self.everything_rounds("kill9")

    def test_everything_power_cut(self):
        """A power cut of the queue, kill -9 of every other process."""
        self.everything_rounds("cut")

    # ---------------------------------------------------- 4: recovery

    def catch_recovery(self, d, gone, delay, timeout=30):
        """kill -9 of the next queue process (not one of gone) delay
        seconds after it opened log/, which it does just before its
        recovery begins.  Returns (its pid, the time, whether recovery
        had not finished)."""
        logdir = os.path.join(d.spool, "log")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            q = harness.role_pid(d, "queue", gone)
            if q is not None and harness.holds_open(q, logdir):
                time.sleep(delay)
                t = time.time()
                os.kill(q, signal.SIGKILL)
                harness.wait_gone(q)
                return q, t, not harness.recovery_done(d, q)
            time.sleep(0.0005)
        self.fail("no queue process opened log/ in %ds:\n%s"
                  % (timeout, d.log_tail()))

    def recovery_rounds(self, mode):
        """A backlog of BACKLOG messages deferred for an hour (their
        relayhost is down) stays in the log (the cold log, where there
        is one), so every recovery reads it.  Each round: local load, a
        crash of every process (the queue's by a power cut in that
        mode), a new daemon, and kill -9 of its queue RECOVERY_KILLS
        times while it recovers (at once, or at a random point of the
        time the last recovery took); then the queue may finish.
        Every acknowledged local message must arrive and the backlog
        stay queued; at the end a sink opens where the relayhost was
        and the whole backlog must arrive there."""
        port = harness.free_port()
        d = self.begin("during recovery", mode, sink=False,
                       relayhost="[127.0.0.1]:%d" % port,
                       minimal_backoff="1h", maximal_backoff="2h")
        backlog = harness.Load(d, "backlog-%s" % mode, remote_share=1,
                               pad_lines=40).start()
        self.sustain(backlog, seconds=0, least=BACKLOG)
        backlog.halt()
        keep = frozenset(backlog.acked.values())
        print("    backlog: %d messages deferred" % len(keep))
        landed = tries = 0
        rng = random.Random(len(mode))
        for rnd in range(ROUNDS):
            load = self.load(d, rnd)
            self.sustain(load)
            t = self.crash_everything(d)
            d.start(wait=False)
            gone, crashes = [], [t]
            for _ in range(RECOVERY_KILLS):
                # At once, or at a random point of the time the last
                # recovery took.
                last = (harness.recovery_msec(d) or 0) / 1000
                delay = rng.choice((0, rng.uniform(0, 0.8 * last)))
                q, t, during = self.catch_recovery(d, gone, delay)
                gone.append(q)
                crashes.append(t)
                tries += 1
                landed += during
            d.wait_ready()
            self.taking_mail(d, load, gone)
            self.end_round(d, load, crashes, rnd, keep=keep, note=(
                "%d kills during recovery so far (of %d); the last "
                "recovery took %s ms" % (landed, tries,
                                        harness.recovery_msec(d))))
            queued = harness.queued_ids(d) or set()
            self.assertEqual(sorted(keep - queued)[:20], [],
                             "round %d: deferred messages left the queue"
                             % rnd)
        # Most kills must have hit recovery, or the case tests little.
        self.assertGreaterEqual(landed * 2, tries,
                                "only %d of %d kills came during recovery"
                                % (landed, tries))
        sink = self.stamped_sink(port=port)
        self.sinks.append(sink)
        self.arrivals.sinks.append(sink)
        lost = self.flush_until(d, backlog.acked, 180)
        twice = sorted(m for m in backlog.acked
                       if len(self.arrivals.times.get(m, ())) > 1)
        print("    backlog: %d acknowledged, %d lost, %d delivered twice"
              % (len(backlog.acked), len(lost), len(twice)))
        if lost:
            self.fail("%d deferred messages lost:\n%s" % (
                len(lost), self.describe_lost(d, backlog.acked, lost)))
        self.assertEqual(twice[:20], [], "deferred messages delivered "
                         "twice, with no crash since their first delivery")
        self.summary()

    def test_recovery_kill9(self):
        """kill -9 of the queue while it recovers, after kill -9."""
        self.recovery_rounds("kill9")

    def test_recovery_power_cut(self):
        """kill -9 of the queue while it recovers, after a power cut."""
        self.recovery_rounds("cut")

    # -------------------------------------------------- 5: compaction

    def compaction_rounds(self, mode):
        """Mail for go@ and keep@ waits (the relayhost answers 451 at
        RCPT, the retry is an hour away) while local mail turns the hot
        log over, so it is copied to the cold log.  Then go@ is let
        through (and retried at once): its cold records become garbage,
        and once the cold log holds more than twice its live data the
        queue copies the keep@ messages of the oldest cold segment
        forward.  The crash comes at the first such copy (a queue id
        logged "copied to the cold log" a second time), under load.
        Every acknowledged go@ and local message must arrive in the
        round; then the relayhost takes keep@ too, and every one of
        those must arrive, so that each round starts with an empty
        queue."""
        d = self.begin("during compaction", mode, start=False,
                       segment_size="1M", cold_segment_size="1M",
                       minimal_backoff="1h", maximal_backoff="2h")
        r = d.cli(harness.BULWARKD, ["-n", "-C", d.conf_path])
        if r.returncode != 0:
            self.skipTest("no cold log yet (bulwarkd -n refuses "
                          "cold_segment_size: %s)" % (
                              (r.stdout + r.stderr).decode(
                                  "utf-8", "replace").strip()))
        watch = harness.LogWatch(d)
        d.start()
        gate = {"go": False, "keep": False}
        self.sinks[0].replies["rcpt"] = lambda a: (
            "250 2.1.5 Ok" if gate.get(a.split("@")[0], True)
            else "451 4.3.0 Try again later")
        copied = {}

        def copied_forward():
            """Queue ids copied to the cold log again, since the last
            call."""
            again = []
            for ln in watch.lines():
                m = re.search(rb": ([0-9A-Z]{12}): copied to the cold "
                              rb"log", ln)
                if m:
                    qid = m.group(1)
                    copied[qid] = copied.get(qid, 0) + 1
                    if copied[qid] > 1:
                        again.append(qid)
            return again
        for rnd in range(ROUNDS):
            if rnd and rnd % QUEUE_RESTARTS_PER_MASTER == 0:
                d.stop()
                d.start()
            gate["go"] = gate["keep"] = False
            held = self.load(d, "%d-keep" % rnd, remote_share=1,
                             remote="keep@remote.example")
            go = self.load(d, "%d-go" % rnd, remote_share=2,
                           pad_lines=40, remote="go@remote.example")
            self.sustain(held, seconds=0.3)
            held.halt()
            self.sustain(go, seconds=1.0, least=3000)
            go.halt()
            self.acked.update(go.acked)
            # Local mail turns the hot log over, which moves what waits.
            load = self.load(d, rnd, pad_lines=20)
            self.sustain(load, seconds=0.5)
            if not harness.wait_until(
                    lambda: len(harness.log_segments(d, "cold")) >= 5,
                    60, step=0.1):
                load.halt()
                self.fail("the cold log never grew to 5 segments: %s"
                          % harness.log_segments(d, "cold"))
            copied_forward()
            gate["go"] = True
            d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
            t0 = time.time()
            first = harness.wait_until(copied_forward, 60, step=0.001)
            if not first:
                load.halt()
                self.fail("no message copied forward within the cold "
                          "log (compaction) in 60 s after the deferred "
                          "mail was taken; cold segments: %s"
                          % harness.log_segments(d, "cold"))
            t, old = self.crash_queue(d)
            forward = len(first) + len(copied_forward())
            self.taking_mail(d, load, gone=(old,))
            # What had not been retried before the crash waits for its
            # hour again.
            self.flush_until(d, go.acked, 60)
            self.end_round(d, load, [t], rnd,
                           keep=frozenset(held.acked.values()),
                           note="crash %.2f s after the go@ mail was "
                           "let through, %d copies forward logged by "
                           "then" % (t - t0, forward))
            gate["keep"] = True
            lost = self.flush_until(d, held.acked, 120)
            print("        then keep@: %d acknowledged, %d lost"
                  % (len(held.acked), len(lost)))
            if lost:
                self.fail("round %d: %d held messages lost:\n%s" % (
                    rnd, len(lost), self.describe_lost(d, held.acked,
                                                       lost)))
            self.acked.update(held.acked)
        self.summary()

    def test_compaction_kill9(self):
        """kill -9 of the queue while it compacts the cold log."""
        self.compaction_rounds("kill9")

    def test_compaction_power_cut(self):
        """A power cut of the queue while it compacts the cold log."""
        self.compaction_rounds("cut")


if __name__ == "__main__":
    unittest.main()
