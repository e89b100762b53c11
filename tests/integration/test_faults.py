"""Injected I/O faults in the queue's log, seen from real clients.

bulwarkd runs with tests/faultshim/faultshim.c preloaded (after the ASan
runtime), which fails the log writes and syncs a control file names:
short writes, EIO and ENOSPC from write, EIO from fdatasync.  Several
senders keep sending to a local Maildir while each fault is made, and
the client side must show:

- the sessions of the failed batch got a 4xx, never 250: the shim
  names the queue id of each COMMIT record in the failed call (or
  written since the last sync, for a failed sync), none of them may be
  in a 250 reply, and there are at least as many 4xx (the faults wait
  for a write or sync that carries a COMMIT record, so at least one);
- every message that got 250 arrives, byte for byte, once;
- no message that got a 4xx ever arrives, then or after a restart;
- after a failed write or sync the segment is cut back (or already
  freed) and writing goes on in a newer one, where mail gets 250 again;
- after a clean stop and a start on the same spool the log replays:
  everything acknowledged is there, nothing comes back twice and
  nothing refused comes back.
"""

import os
import re
import struct
import subprocess
import threading
import time

import harness
from harness import BulwarkTest

SHIM = os.path.join(harness.BUILD, "tests", "faultshim.so")
SEGMENT = 1024 * 1024
QID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MBOX = "someone"
RCPT = "someone@example.test"


def asan_runtime():
    """The ASan runtime bulwarkd was linked with, or None: it must come
    first in LD_PRELOAD, before the shim."""
    r = subprocess.run(["ldd", harness.BULWARKD], capture_output=True,
                       timeout=30)
    m = re.search(rb"libasan\.so\S* => (\S+)", r.stdout)
    return m.group(1).decode() if m else None


def qid_text(hexid):
    """A queue id as the shim logs it (hex) in the form of replies."""
    v = int(hexid, 16)
    out = ""
    for _ in range(12):
        out = QID_ALPHABET[v & 31] + out
        v >>= 5
    return out


class FaultLoad:
    """SENDERS threads sending numbered messages to RCPT until halted,
    keeping each final reply: acked (Message-ID -> the bytes sent) and
    qids (queue id -> Message-ID) for 250, temp for 4xx and other for
    anything else, each with the time of the reply."""

    SENDERS = 4

    def __init__(self, d, tag, pad_lines=30):
        self.d = d
        self.tag = tag
        self.pad = harness.Load.PAD * pad_lines
        self.acked = {}
        self.qids = {}
        self.temp = {}
        self.other = {}
        self.when = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True)
                        for i in range(self.SENDERS)]

    def message(self, mid, n, seq):
        return ("From: load@example.org\r\nTo: %s\r\n"
                "Subject: fault load %d %d\r\nMessage-ID: %s\r\n\r\n"
                "body of %s\r\n%s" % (RCPT, n, seq, mid, mid,
                                       self.pad)).encode()

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def resume(self):
        """Start sending again after halt, with new Message-IDs."""
        first = len(self.threads)
        self.stop.clear()
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True)
                        for i in range(first, first + self.SENDERS)]
        return self.start()

    def _run(self, n):
        seq = 0
        while not self.stop.is_set() and seq < 5000:
            seq += 1
            mid = "<%s.%d.%d@client.test>" % (self.tag, n, seq)
            msg = self.message(mid, n, seq)
            try:
                code, text = self.d.send(msg, rcpts=[RCPT])
            except OSError as e:
                code, text = 0, "connection: %s" % e
            with self.lock:
                self.when[mid] = time.monotonic()
                if code == 250:
                    self.acked[mid] = msg
                    self.qids[self.d.queue_id_from(text)] = mid
                elif 400 <= code < 500:
                    self.temp[mid] = (code, text)
                else:
                    self.other[mid] = (code, text)

    def halt(self):
        self.stop.set()
        for t in self.threads:
            t.join(90)

    def count(self, since=0.0):
        with self.lock:
            return sum(1 for m in self.acked if self.when[m] >= since)


class FaultTest(BulwarkTest):

    def fault_daemon(self, **conf):
        """A daemon with the shim preloaded and 1 MiB segments, so that
        the log also rotates under the load."""
        if not os.path.exists(SHIM):
            self.fail("no fault shim at %s (make O=%s build)"
                      % (SHIM, os.path.basename(harness.BUILD)))
        d = self.daemon(start=False, segment_size="1M", **conf)
        fdir = os.path.join(d.tmp, "fault")
        os.mkdir(fdir)
        # The queue runs as the mail owner and takes each fault off the
        # count in the control file: both files are for everyone.
        os.chmod(fdir, 0o777)
        self.ctl = os.path.join(fdir, "control")
        self.shim_log = os.path.join(fdir, "fired")
        self.log_dir = os.path.join(os.path.realpath(d.spool), "log")
        self.command("")
        with open(self.shim_log, "w"):
            pass
        os.chmod(self.shim_log, 0o666)
        env = dict(d.env())
        pre = [p for p in (asan_runtime(), SHIM) if p]
        env.update({
            "LD_PRELOAD": ":".join(pre),
            "BULWARK_FAULT_FILE": self.ctl,
            "BULWARK_FAULT_LOG": self.shim_log,
            "BULWARK_FAULT_DIR": self.log_dir,
        })
        d.env = lambda: env
        d.start()
        return d

    def command(self, text):
        """Replace the control file at once (the shim reads it again
        when it changed)."""
        tmp = self.ctl + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o666)
        os.replace(tmp, self.ctl)

    def fired(self):
        """The faults the shim made: (op, error, path, the queue ids of
        the COMMIT records the failed call wrote or was to sync)."""
        try:
            with open(self.shim_log) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for ln in lines:
            w = ln.split(" ")
            c = w[-1][len("commits="):] if w[-1].startswith("commits=") \
                else ""
            out.append((w[0], w[1], w[2],
                        tuple(qid_text(x) for x in c.split(",") if x)))
        return out

    def segments(self):
        """Segment number -> size, of the .seg files in log/."""
        out = {}
        for n in os.listdir(self.log_dir):
            if n.endswith(".seg"):
                try:
                    out[int(n[:-4], 16)] = os.path.getsize(
                        os.path.join(self.log_dir, n))
                except (OSError, ValueError):
                    pass
        return out

    def wait_acked(self, load, n, since=0.0, timeout=60):
        if not harness.wait_until(lambda: load.count(since) >= n, timeout):
            self.fail("only %d messages acknowledged in %ds (4xx: %d, "
                      "other: %s)" % (load.count(since), timeout,
                                      len(load.temp),
                                      list(load.other.values())[:3]))

    def inject(self, d, load, cmd, times=1):
        """Make the fault cmd (times times) under load; returns when the
        shim made it and mail was acknowledged after it again."""
        before = len(self.fired())
        self.command(cmd + "\n")
        made = harness.wait_until(
            lambda: len(self.fired()) >= before + times, 60)
        self.assertTrue(made, "the shim never made the fault %r (made "
                        "%d of %d):\n%s" % (cmd, len(self.fired()) -
                                            before, times,
                                            d.log_tail(30)))
        after = time.monotonic()
        # Mail is acknowledged again after the fault.
        self.wait_acked(load, 20, since=after)
        return self.fired()[before:]

    def assert_cut_back(self, path):
        """The failed segment was cut back to its synced length (or has
        been freed since) and a newer segment took the writes."""
        num = int(os.path.basename(path)[:16], 16)

        def cut():
            segs = self.segments()
            return (segs.get(num, 0) < SEGMENT and
                    any(n > num for n in segs))
        self.assertTrue(harness.wait_until(cut, 10),
                        "segment %016x not cut back or no newer one: %s"
                        % (num, {"%x" % k: v for k, v in
                                 self.segments().items()}))

    def check_arrivals(self, d, load, what, once=True):
        """Everything acknowledged arrives intact (and once, with once);
        nothing that got a 4xx arrives.  A marker sent last, once it
        arrived and the queue is empty, makes the absence check sound."""
        box = d.maildir(MBOX)
        acked = dict(load.acked)

        def complete():
            have = harness.message_ids(box)
            return all(m in have for m in acked)
        harness.wait_until(complete, 90, step=0.5)
        self.settle(d)
        have = {}
        for _, data in box.messages():
            mid = harness.header_value(data, "message-id")
            have.setdefault(mid, []).append(data)
        lost = sorted(m for m in acked if m not in have)
        twice = sorted(m for m in acked if len(have.get(m, [])) > 1)
        back = sorted(m for m in load.temp if m in have)
        print("\n    %s: %d acknowledged (250), %d refused (4xx), %d "
              "other; %d lost, %d twice, %d refused but delivered"
              % (what, len(acked), len(load.temp), len(load.other),
                 len(lost), len(twice), len(back)))
        self.assertEqual(lost, [], "%s: acknowledged messages lost"
                         % what)
        if once:
            self.assertEqual(twice, [], "%s: delivered twice" % what)
        self.assertEqual(back, [], "%s: messages that got a 4xx were "
                         "delivered" % what)
        for mid, msg in acked.items():
            self.assertDelivered(have[mid][0], msg, what="%s %s"
                                 % (what, mid))
        return set(have)

    def check_late(self, d, load, n=5):
        """Mail sent now, after the fault, one at a time, gets 250."""
        for i in range(n):
            mid = "<late.%d@client.test>" % i
            msg = load.message(mid, 9, i)
            code, text = d.send(msg, rcpts=[RCPT])
            self.assertEqual(code, 250, "after the fault: %s" % text)
            load.acked[mid] = msg

    def check_temp(self, load, codes, need=1, made=()):
        """At least need sessions got a 4xx, each one of codes, and no
        session got anything but 250 or 4xx.  No commit that the faults
        made fail (made) got 250, and there were as many 4xx at least."""
        failed = [q for m in made for q in m[3]]
        print("\n    commits in the failed calls: %s" % failed)
        self.assertGreaterEqual(len(failed), need,
                                "no COMMIT record in the failed calls")
        self.assertEqual([(q, load.qids[q]) for q in failed
                          if q in load.qids], [],
                         "250 for a commit whose write or sync failed")
        self.assertEqual(load.other, {}, "replies other than 250/4xx")
        self.assertGreaterEqual(len(load.temp), max(need, len(failed)),
                                "fewer 4xx than failed commits")
        wrong = {m: r for m, r in load.temp.items()
                 if "%d %s" % (r[0], r[1].split(" ")[0]) not in codes}
        self.assertEqual(wrong, {}, "unexpected 4xx replies")

    def restart_and_check(self, d, load, seen, what):
        """The log replays: after a clean stop and a start on the same
        spool, everything acknowledged is there, and nothing new comes
        (nothing refused, nothing delivered already)."""
        self.assertEqual(d.stop(), 0, "bulwarkd did not stop cleanly")
        d.start()
        again = self.check_arrivals(d, load, "%s, restarted" % what)
        self.assertEqual(sorted(again - seen), [],
                         "new messages after the restart")

    def run_fault(self, cmd, made_want, codes, need_temp=1):
        """The common course: load, the fault, checks, restart, checks.
        made_want: (op, error) of each fault the shim must make; codes:
        the 4xx replies the failed sessions may get."""
        d = self.fault_daemon()
        load = FaultLoad(d, re.sub(r"\W", "", cmd)).start()
        try:
            self.wait_acked(load, 20)
            made = self.inject(d, load, cmd, len(made_want))
        finally:
            load.halt()
        self.assertEqual([m[:2] for m in made], made_want, made)
        for _, _, path, _ in made:
            self.assertTrue(path.startswith(self.log_dir + "/"), path)
        self.assert_cut_back(made[0][2])
        self.check_temp(load, codes, need_temp, made)
        self.check_late(d, load)
        seen = self.check_arrivals(d, load, "%s, live" % cmd)
        self.restart_and_check(d, load, seen, cmd)

    # The faults.  Each waits for a write or sync that carries a
    # COMMIT record ("commit"), so that a session always waits on it.

    def test_write_eio(self):
        """pwritev fails with EIO: 451 4.3.0 for the batch."""
        self.run_fault("write EIO 1 commit", [("write", "EIO")],
                       {"451 4.3.0"})

    def test_write_enospc(self):
        """pwritev fails with ENOSPC: 452 4.3.1 for the batch, and the
        queue takes mail again (the disk is not really full)."""
        self.run_fault("write ENOSPC 1 commit", [("write", "ENOSPC")],
                       {"452 4.3.1"})

    def test_write_short(self):
        """pwritev writes half the batch: the batch gets 451, and no
        message whose bytes were not all written gets 250."""
        self.run_fault("write short 1 commit", [("write", "short")],
                       {"451 4.3.0"})

    def test_sync_eio(self):
        """fdatasync fails with EIO: the batch gets 451, the segment is
        cut back to its last good sync and closed, and a new one takes
        the writes."""
        self.run_fault("sync EIO 1 commit", [("sync", "EIO")],
                       {"451 4.3.0"})

    def test_new_segment_write_fails(self):
        """The first write to a new segment (its SEGMENT record and the
        records after it) fails: that segment is cut to nothing and the
        next one takes the writes.  Whether a session waits on that
        write depends on the batch, so no 4xx is required here."""
        self.run_fault("write EIO 1 segment", [("write", "EIO")],
                       {"451 4.3.0"}, need_temp=0)

    def test_sync_eio_cut_fails(self):
        """fdatasync fails and so does the cut back: the bytes written
        since the last good sync stay in the file, which an open
        transaction (begun before, never finished) keeps from being
        freed.  Only the next segment's SEGMENT record says where trust
        ends.  After kill -9 and a start, nothing refused comes back
        from those bytes and everything acknowledged is there."""
        d = self.fault_daemon()
        raw = d.raw()
        self.addCleanup(raw.close)
        for c in ("EHLO client.test", "MAIL FROM:<a@example.org>",
                  "RCPT TO:<%s>" % RCPT):
            self.assertEqual(raw.cmd(c)[0] // 100, 2, c)
        self.assertEqual(raw.cmd("DATA")[0], 354)
        raw.send(b"Subject: never finished\r\n\r\nstill writing\r\n")
        load = FaultLoad(d, "cut").start()
        try:
            self.wait_acked(load, 20)
            made = self.inject(d, load, "sync EIO 1 commit\n"
                               "truncate EIO 1", 2)
        finally:
            load.halt()
        self.assertEqual([m[:2] for m in made],
                         [("sync", "EIO"), ("truncate", "EIO")], made)
        self.assertEqual(made[0][2], made[1][2], made)
        self.check_temp(load, {"451 4.3.0"}, made=made)
        self.check_late(d, load)
        box = d.maildir(MBOX)
        self.assertTrue(harness.wait_until(
            lambda: set(load.acked) <= set(harness.message_ids(box)),
            90, step=0.5), "acknowledged mail did not arrive")
        d.kill_all()
        raw.close()

        # On disk: the failed segment was not cut, and bytes past the
        # trusted length that the next segment names are still there.
        failed = made[0][2]
        num = int(os.path.basename(failed)[:16], 16)
        with open(os.path.join(self.log_dir, "%016x.seg" % (num + 1)),
                  "rb") as f:
            head = f.read(80)
        prev, trusted = struct.unpack_from("<QQ", head, 64)
        self.assertEqual(prev, num, "the next segment names another")
        with open(failed, "rb") as f:
            data = f.read()
        self.assertEqual(len(data), SEGMENT, "the cut was not refused")
        self.assertNotEqual(data[trusted:].strip(b"\0"), b"",
                            "no untrusted bytes left to drop")
        print("\n    segment %016x: trusted %d bytes, %d more on disk"
              % (num, trusted, len(data[trusted:].rstrip(b"\0"))))

        d.start()
        # After kill -9 a delivered message may come again (its DONE
        # record was not yet synced): counted, not a failure.
        self.check_arrivals(d, load, "sync EIO, cut refused, kill -9",
                            once=False)

    def test_start_sync_fails(self):
        """At start the queue makes a new tail segment and syncs it;
        that sync fails.  The queue still takes mail (in a segment made
        after it), and what it took replays after another restart."""
        d = self.fault_daemon()
        load = FaultLoad(d, "start").start()
        try:
            self.wait_acked(load, 20)
        finally:
            load.halt()
        self.assertEqual(d.stop(), 0, "bulwarkd did not stop cleanly")
        self.command("sync EIO 1 segment\n")
        d.start()
        self.assertTrue(harness.wait_until(self.fired, 30),
                        "the shim never failed the first sync")
        made = self.fired()
        self.assertEqual([m[:2] for m in made], [("sync", "EIO")])
        load.resume()
        try:
            self.wait_acked(load, 20, since=time.monotonic())
        finally:
            load.halt()
        self.assert_cut_back(made[0][2])
        self.check_temp(load, {"451 4.3.0"}, need=0, made=made)
        self.check_late(d, load)
        seen = self.check_arrivals(d, load, "sync EIO at start, live")
        self.restart_and_check(d, load, seen, "sync EIO at start")

    def test_outcome_write_fails(self):
        """The write of the OUTCOME record of a local delivery fails
        while the message's other recipient (remote) is still waiting.
        After a clean stop and a start, the local recipient must not
        get the message a second time: the outcome lost with the failed
        write is not trusted, but it is not forgotten either."""
        gate = threading.Event()
        mode = {"reply": "451 4.3.0 Not now"}

        def on_mail(_):
            gate.wait(60)
            return mode["reply"]
        port = harness.free_port()
        sink = self.pysink(port=port, replies={"mail": on_mail})
        self.addCleanup(gate.set)
        d = self.fault_daemon(relayhost="[127.0.0.1]:%d" % port)
        self.command("write EIO 1 outcome\n")
        mid = "<two@client.test>"
        msg = ("From: a@example.org\r\nMessage-ID: %s\r\n\r\n"
               "one local, one remote\r\n" % mid).encode()
        code, text = d.send(msg, rcpts=[RCPT, harness.Load.REMOTE])
        self.assertEqual(code, 250, text)
        qid = d.queue_id_from(text)
        box = d.maildir(MBOX)
        self.assertTrue(harness.wait_until(
            lambda: mid in harness.message_ids(box), 30),
            "the local copy never arrived")
        self.assertTrue(harness.wait_until(self.fired, 30),
                        "the shim never failed the outcome's write")
        self.assertEqual([m[:2] for m in self.fired()],
                         [("write", "EIO")])
        # The remote recipient is deferred, then the daemon restarts.
        gate.set()
        self.assertTrue(harness.wait_until(
            lambda: harness.mailq_deferred(d.mailq(), qid), 30),
            "the remote recipient was not deferred:\n%s" % d.mailq())
        self.assertEqual(d.stop(), 0, "bulwarkd did not stop cleanly")
        d.start()
        mode["reply"] = "250 2.1.0 Ok"
        d.cli(harness.BULWARKCTL, ["-C", d.conf_path, "flush"])
        self.assertTrue(sink.wait_messages(1, 60),
                        "the remote copy never arrived")
        self.settle(d)
        self.assertEqual(harness.message_ids(box).get(mid), 1,
                         "the local recipient got the message again")

    def test_faults_anywhere(self):
        """Faults that hit whatever the log writes next (DATA, COMMIT,
        OUTCOME or DONE records, or a sync of them), several in a row:
        nothing acknowledged is lost, nothing is delivered twice (lost
        DONE records are written again), before and after a restart."""
        d = self.fault_daemon()
        load = FaultLoad(d, "any").start()
        made = []
        try:
            self.wait_acked(load, 20)
            for cmd in ("write EIO 2", "sync EIO 2", "write short 2",
                        "write ENOSPC 1"):
                made += self.inject(d, load, cmd,
                                    int(cmd.split(" ")[2]))
        finally:
            load.halt()
        self.assertEqual(len(made), 7, made)
        self.check_temp(load, {"451 4.3.0", "452 4.3.1"}, need=0,
                        made=made)
        seen = self.check_arrivals(d, load, "faults anywhere, live")
        self.assertEqual(d.stop(), 0, "bulwarkd did not stop cleanly")
        d.start()
        again = self.check_arrivals(d, load, "faults anywhere, restarted")
        self.assertEqual(sorted(again - seen), [],
                         "new messages after the restart")


if __name__ == "__main__":
    import unittest
    unittest.main()
