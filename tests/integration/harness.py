"""Black-box test harness for Bulwark.

Starts bulwarkd on free loopback ports with a temporary spool, talks to it
like any client would (smtplib, raw sockets, swaks, the sendmail and
bulwarkctl programs), and looks only at what arrives: files in Maildir
new/ folders and messages at SMTP sinks.  Everything is bounded in time,
and only processes started here are ever signalled, by pid.
"""

import grp
import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DATA_DIR = os.path.join(TOP, "tests", "data")

# The real-world corpus, where tools/shared-corpus.sh found it (run.sh
# and the Makefile pass it on); "" when there is none.
SHARED_CORPUS = os.environ.get("BULWARK_SHARED_CORPUS", "")


def shared_corpus(name):
    """A path inside the shared corpus, or None when there is none."""
    return os.path.join(SHARED_CORPUS, name) if SHARED_CORPUS else None


_build = os.environ.get("BULWARK_BUILD", "obj")
BUILD = _build if os.path.isabs(_build) else os.path.join(TOP, _build)
BULWARKD = os.path.join(BUILD, "bulwarkd")
BULWARKCTL = os.path.join(BUILD, "bulwarkctl")
SENDMAIL = os.path.join(BUILD, "sendmail")
MAILQ = os.path.join(BUILD, "mailq")

IS_ROOT = os.geteuid() == 0
MAIL_OWNER = "bulwark"
ROLES = ("smtpd", "queue", "policy", "local", "remote")

# The sanitizer build carries the test hooks (SIGUSR2 power cut).
TEST_HOOKS = (os.path.basename(os.path.normpath(BUILD)) == "obj-san" or
              os.environ.get("BULWARK_TEST_HOOKS") == "1")

SAN_ENV = {
    # Children chroot and drop privileges: leak checking at exit cannot
    # work there, and it is not what these tests look for.
    "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:"
                    "allow_user_segv_handler=1",
    "UBSAN_OPTIONS": "print_stacktrace=1",
}
SAN_PATTERNS = (b"ERROR: AddressSanitizer", b"runtime error:",
                b"ERROR: LeakSanitizer", b"SUMMARY: UndefinedBehavior")

KEEP = os.environ.get("BULWARK_KEEP_TMP") == "1"

# Every harness object alive, so the watchdog can stop them all.
_LIVE = set()
_LIVE_LOCK = threading.Lock()


def mail_owner_ids():
    """(uid, gid) of the unprivileged user, or None when not root."""
    if not IS_ROOT:
        return None
    pw = pwd.getpwnam(MAIL_OWNER)
    return pw.pw_uid, pw.pw_gid


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_until(pred, timeout, step=0.1, what="condition"):
    """Poll pred() until it returns a true value; return it or None."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= end:
            return None
        time.sleep(step)


# ---------------------------------------------------------------- processes

def _proc_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # Field 22, counted after the ")" that ends the command name.
    rest = stat[stat.rindex(b")") + 2:].split()
    return int(rest[19])


def proc_alive(pid, start=None):
    st = _proc_start_time(pid)
    if st is None:
        return False
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        if state == b"Z":
            return False
    except (OSError, IndexError):
        return False
    return start is None or st == start


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def proc_role(pid):
    """The role a bulwarkd child was started with (-R role), or None."""
    argv = proc_cmdline(pid)
    for i, a in enumerate(argv):
        if a == b"-R" and i + 1 < len(argv):
            return argv[i + 1].decode()
        if a.startswith(b"-R") and len(a) > 2:
            return a[2:].decode()
    return None


def proc_user(pid):
    out = subprocess.run(["ps", "-o", "user=", "-p", str(pid)],
                         capture_output=True, timeout=10)
    return out.stdout.decode().strip()


def ps_children(pid):
    out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="],
                         capture_output=True, timeout=10)
    return [int(x) for x in out.stdout.split()]


def descendants(pid):
    """Every process below pid, children first."""
    seen = []
    todo = [pid]
    while todo:
        p = todo.pop(0)
        for c in ps_children(p):
            if c not in seen:
                seen.append(c)
                todo.append(c)
    return seen


# --------------------------------------------------------------- messages

def crlf(data):
    """What goes on the wire: every CRLF, bare LF and bare CR as CRLF."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", data)


def lf(data):
    """The same text with LF line ends, as a Maildir file holds it."""
    return re.sub(rb"\r\n|\r|\n", b"\n", data)


def with_test_id(data, test_id):
    return b"X-Test-Id: " + test_id.encode() + b"\r\n" + data


def expected_delivery(data, test_id=None):
    """The message as it must come out of delivery, trace headers aside
    (with the X-Test-Id line in front when the test added one)."""
    body = lf(data)
    if body and not body.endswith(b"\n"):
        body += b"\n"
    if test_id is None:
        return body
    return b"X-Test-Id: " + test_id.encode() + b"\n" + body


# The fields Bulwark puts in front of a message it delivers locally.
TRACE = (b"return-path", b"delivered-to", b"received")


def _field_end(msg, pos):
    """End of the header field starting at pos, folded lines included."""
    end = msg.find(b"\n", pos)
    while end != -1 and msg[end + 1:end + 2] in (b" ", b"\t"):
        end = msg.find(b"\n", end + 1)
    return len(msg) if end == -1 else end + 1


def split_trace(msg, fields=TRACE):
    """Take exactly the fields Bulwark puts in front (by default those of
    a final delivery, in this order) off a message with LF line ends.
    Returns (the fields taken, the rest); a field that is not there ends
    the walk, so the caller sees which is missing."""
    taken = []
    pos = 0
    for want in fields:
        m = re.match(rb"([A-Za-z0-9-]+):", msg[pos:])
        if not m or m.group(1).lower() != want:
            break
        taken.append(want.decode())
        pos = _field_end(msg, pos)
    return taken, msg[pos:]


def delivered_intact(got, original, test_id=None,
                     fields=("return-path", "delivered-to", "received")):
    """Is got (a delivered message) exactly the fields Bulwark adds, then
    the original after the transport rules?  The original is found as
    the tail, so that a message whose first line is folded white space
    cannot hide in a trace field.  Returns (ok, the fields found, the
    rest after them, the expected rest)."""
    msg = lf(got)
    want = expected_delivery(original, test_id)
    want_fields = tuple(f.encode() for f in fields)
    if msg.endswith(want):
        names, left = split_trace(msg[:len(msg) - len(want)],
                                  want_fields)
        if tuple(names) == tuple(fields) and left == b"":
            return True, names, want, want
    names, rest = split_trace(msg, want_fields)
    return False, names, rest, want


def own_queue_id(msg):
    """The queue id in the first Received: field, which Bulwark adds."""
    m = re.search(rb"(?im)^Received:((?:[^\n]*)(?:\r?\n[ \t][^\n]*)*)",
                  msg)
    if not m:
        return None
    q = re.search(rb"\bid ([0-9A-Za-z]+)", m.group(1))
    return q.group(1).decode() if q else None


def header_value(msg, name):
    """First value of a header field in the header section (unfolded)."""
    head = lf(msg).split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^" + re.escape(name.encode()) +
                  rb":[ \t]*(.*(?:\n[ \t].*)*)", head)
    if not m:
        return None
    return re.sub(rb"\n[ \t]", b" ", m.group(1)).strip().decode(
        "utf-8", "replace")


def test_id_of(msg):
    m = re.search(rb"(?m)^X-Test-Id: ([^\r\n]*)", msg)
    return m.group(1).decode() if m else None


def smtp_error(exc):
    """(code, text) from an smtplib exception, or None."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, msg = list(exc.recipients.values())[0]
        return code, msg.decode("utf-8", "replace")
    if isinstance(exc, (smtplib.SMTPResponseException)):
        return exc.smtp_code, exc.smtp_error.decode("utf-8", "replace")
    return None


def mailq_entry(out, qid):
    """The lines mailq printed for the message qid, or None."""
    for block in out.split("\n\n"):
        lines = block.split("\n")
        for i, ln in enumerate(lines):
            if ln.startswith(qid):
                return "\n".join(lines[i:])
    return None


def mailq_deferred(out, qid, reason=""):
    """Does mailq list qid as waiting (no delivery in flight, which
    mailq marks with "*") under a reason line that holds reason?"""
    entry = mailq_entry(out, qid)
    return (entry is not None and entry[len(qid):len(qid) + 1] == " " and
            re.search(r"(?m)^ *\(.*%s.*\)$" % re.escape(reason), entry)
            is not None)


def has_8bit(data):
    return any(b >= 0x80 for b in data)


def read_expect(path):
    """file -> expected outcome ('delivered' or 'refused 550 5.6.0')."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if cols[0] == "file":
                continue
            out[cols[0]] = cols[1]
    return out


# ---------------------------------------------------------------- mailboxes

class Maildir:
    def __init__(self, path):
        self.path = path

    def new_files(self):
        d = os.path.join(self.path, "new")
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        return [os.path.join(d, n) for n in names]

    def messages(self):
        """List of (path, bytes) of the messages in new/."""
        out = []
        for p in self.new_files():
            try:
                with open(p, "rb") as f:
                    out.append((p, f.read()))
            except FileNotFoundError:
                pass
        return out

    def count(self):
        return len(self.new_files())

    def by_test_id(self):
        """test id -> list of messages carrying it."""
        out = {}
        for _, m in self.messages():
            tid = test_id_of(m)
            out.setdefault(tid, []).append(m)
        return out

    def wait_count(self, n, timeout):
        return wait_until(lambda: self.count() >= n, timeout)

    def by_queue_id(self):
        """queue id (from Bulwark's Received: field) -> messages."""
        out = {}
        for _, m in self.messages():
            out.setdefault(own_queue_id(m), []).append(m)
        return out

    def wait_queue_ids(self, ids, timeout):
        """Wait until every queue id in ids has arrived; return the map."""
        ids = set(ids)
        got = {}

        def done():
            got.clear()
            got.update(self.by_queue_id())
            return ids <= set(got)
        wait_until(done, timeout, step=0.2)
        return got

    def wait_test_ids(self, ids, timeout):
        """Wait until every test id in ids has arrived; return the map."""
        ids = set(ids)
        got = {}

        def done():
            got.clear()
            got.update(self.by_test_id())
            return ids <= set(got)
        wait_until(done, timeout, step=0.2)
        return got


# ------------------------------------------------------------------ daemon

class Daemon:
    """One bulwarkd instance with its own config, spool and mailboxes."""

    def __init__(self, name="bulwark", **conf):
        self.tmp = tempfile.mkdtemp(prefix="bulwark-it-%s-" % name)
        os.chmod(self.tmp, 0o755)
        self.spool = os.path.join(self.tmp, "spool")
        self.mail = os.path.join(self.tmp, "mail")
        os.mkdir(self.spool, 0o755)
        os.mkdir(self.mail, 0o755)
        ids = mail_owner_ids()
        if ids:
            os.chown(self.spool, *ids)
            os.chown(self.mail, *ids)
        self.conf_path = os.path.join(self.tmp, "bulwark.conf")
        self.log_path = os.path.join(self.tmp, "bulwarkd.log")
        self.port = free_port()
        self.conf = {
            "queue_directory": self.spool,
            "mailbox_base": self.mail,
            "inet_interfaces": "127.0.0.1:%d" % self.port,
            "mydestination": "localhost, example.test",
            "mynetworks": "127.0.0.1/32",
            "relayhost": "",
            "alias_maps": "",
            "minimal_backoff": "1s",
            "maximal_backoff": "2s",
            # Clients of most tests come from 127.0.0.2 and up, which
            # are not in mynetworks; the pre-greet test has its own.
            "pregreet_delay": "0s",
            # Likewise the error tarpit, which slows every 5xx.
            "smtpd_error_delay": "0s",
        }
        self.conf.update(conf)
        self.write_config()
        self.proc = None
        self.logf = None
        self.known = {}		# pid -> start time, for cleanup
        self.starts = 0
        with _LIVE_LOCK:
            _LIVE.add(self)

    # configuration

    def write_config(self, extra_text=""):
        lines = ["# written by tests/integration/harness.py"]
        for k, v in self.conf.items():
            lines.append("%s = %s" % (k, v))
        text = "\n".join(lines) + "\n" + extra_text
        tmp = self.conf_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.conf_path)

    def maildir(self, local="someone"):
        return Maildir(os.path.join(self.mail, local, "Maildir"))

    # processes

    def env(self):
        env = dict(os.environ)
        env.update(SAN_ENV)
        return env

    def start(self, wait=True, timeout=40):
        assert self.proc is None or self.proc.poll() is not None
        self.logf = open(self.log_path, "ab")
        self.logf.write(b"==== harness: start %d\n" % self.starts)
        self.logf.flush()
        self.starts += 1
        self.proc = subprocess.Popen(
            [BULWARKD, "-d", "-C", self.conf_path],
            stdin=subprocess.DEVNULL, stdout=self.logf,
            stderr=subprocess.STDOUT, cwd=self.tmp, env=self.env(),
            start_new_session=True)
        self.known[self.proc.pid] = _proc_start_time(self.proc.pid)
        if wait:
            self.wait_ready(timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def children(self):
        """role -> pid of the master's current children."""
        out = {}
        if not self.running():
            return out
        for c in ps_children(self.pid):
            self.known.setdefault(c, _proc_start_time(c))
            r = proc_role(c)
            if r:
                out[r] = c
        return out

    def all_pids(self):
        """The master and every process below it."""
        if not self.running():
            return []
        pids = [self.pid] + descendants(self.pid)
        for p in pids:
            self.known.setdefault(p, _proc_start_time(p))
        return pids

    def banner_ok(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=5) as s:
                s.settimeout(5)
                data = b""
                while b"\n" not in data:
                    chunk = s.recv(512)
                    if not chunk:
                        return False
                    data += chunk
                try:
                    s.sendall(b"QUIT\r\n")
                except OSError:
                    pass
                return data.startswith(b"220")
        except OSError:
            return False

    def wait_ready(self, timeout=40):
        """Until every role runs and the listener greets."""
        def ready():
            if not self.running():
                raise AssertionError(
                    "bulwarkd exited with status %s during start-up:\n%s"
                    % (self.proc.returncode, self.log_tail()))
            return set(ROLES) <= set(self.children()) and self.banner_ok()
        if not wait_until(ready, timeout, step=0.2):
            raise AssertionError(
                "bulwarkd not ready after %ds (children: %s):\n%s"
                % (timeout, self.children(), self.log_tail()))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=45):
        """SIGTERM the master and wait; SIGKILL whatever is left after
        timeout.  Returns the master's exit status (None if killed)."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            self.all_pids()
            self.signal(signal.SIGTERM)
            rc = self.wait_exit(timeout)
            if rc is None:
                self.kill_all()
        self._close_log()
        self._reap_known(5)
        return rc

    def kill_all(self):
        """kill -9 the master and every process below it (master first,
        so that it cannot restart what is killed next)."""
        pids = self.all_pids()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        # Anything the master forked between the listing and its death.
        for p in list(self.known):
            if proc_alive(p, self.known[p]) and p != os.getpid():
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc:
            self.proc.wait(10)
        self._reap_known(10)
        self._close_log()

    def _reap_known(self, timeout):
        def gone():
            return not any(proc_alive(p, st) for p, st in self.known.items()
                           if p != os.getpid())
        if not wait_until(gone, timeout):
            for p, st in self.known.items():
                if proc_alive(p, st):
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            wait_until(gone, 5)

    def leftovers(self):
        return [p for p, st in self.known.items() if proc_alive(p, st)]

    def _close_log(self):
        if self.logf:
            self.logf.close()
            self.logf = None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def log_tail(self, n=80):
        lines = self.log().splitlines()[-n:]
        return "\n".join(x.decode("utf-8", "replace") for x in lines)

    def sanitizer_reports(self):
        log = self.log()
        return [p.decode() for p in SAN_PATTERNS if p in log]

    def cleanup(self):
        try:
            if self.running():
                self.stop(timeout=20)
            else:
                self._reap_known(2)
        finally:
            self._close_log()
            with _LIVE_LOCK:
                _LIVE.discard(self)
            if not KEEP:
                shutil.rmtree(self.tmp, ignore_errors=True)

    # clients

    def smtp(self, source=None, timeout=60):
        kw = {"timeout": timeout}
        if source:
            kw["source_address"] = (source, 0)
        s = smtplib.SMTP("127.0.0.1", self.port, local_hostname="client.test",
                         **kw)
        return s

    def raw(self, source=None, timeout=30, greet=True):
        return RawClient(self.port, source=source, timeout=timeout,
                         greet=greet)

    def send(self, data, rcpts=("someone@example.test",),
             sender="sender@example.org", source=None):
        """Send raw message bytes with smtplib (CRLF on the wire,
        dot-stuffed by smtplib).  Returns (code, text) of the final reply
        (250 ... when accepted)."""
        wire = crlf(data)
        opts = ["BODY=8BITMIME"] if has_8bit(wire) else []
        try:
            with self.smtp(source=source) as s:
                s.ehlo()
                try:
                    s.sendmail(sender, list(rcpts), wire, mail_options=opts)
                except smtplib.SMTPException as e:
                    err = smtp_error(e)
                    if err is None:
                        raise
                    return err
                return 250, s.last_reply
        except smtplib.SMTPServerDisconnected as e:
            return 0, "disconnected: %s" % e

    def cli(self, prog, args, input=None, timeout=60):
        """Run one of the command-line programs; CompletedProcess."""
        env = self.env()
        cmd = [prog] + list(args)
        return subprocess.run(cmd, input=input, capture_output=True,
                              timeout=timeout, env=env, cwd=self.tmp)

    def mailq(self):
        """What mailq prints for this instance (text)."""
        r = self.cli(MAILQ, ["-C", self.conf_path])
        return r.stdout.decode("utf-8", "replace")

    def queue_empty(self):
        return "Mail queue is empty" in self.mailq()

    def queue_id_from(self, reply):
        m = re.search(r"queued as ([0-9A-Za-z]+)", reply)
        return m.group(1) if m else None


# smtplib keeps no record of the text of the final reply to DATA; keep it.
def _data_with_reply(self, msg):
    code, resp = _orig_data(self, msg)
    self.last_reply = "%d %s" % (code, resp.decode("utf-8", "replace"))
    return code, resp


_orig_data = smtplib.SMTP.data
smtplib.SMTP.data = _data_with_reply
smtplib.SMTP.last_reply = ""


# ------------------------------------------------------------- raw client

class RawClient:
    """A byte-exact SMTP client for what smtplib will not send."""

    def __init__(self, port, source=None, timeout=30, greet=True):
        """greet: read the whole banner now, as self.banner; without
        it the caller reads it line by line (the pre-greet test)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.banner = self.reply() if greet else None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply: (code, [lines])."""
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3] != "-":
                break
        try:
            code = int(lines[-1][:3])
        except ValueError:
            code = 0
        return code, lines

    def cmd(self, text):
        self.send(text.encode() + b"\r\n" if isinstance(text, str)
                  else text + b"\r\n")
        return self.reply()

    def read_all(self, timeout=15):
        """Everything until the server closes (bounded in time)."""
        end = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while time.monotonic() < end:
            self.sock.settimeout(max(0.1, end - time.monotonic()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return data, False
            except ConnectionResetError:
                return data, True
            if not chunk:
                return data, True
            data += chunk
        return data, False

    def quiet(self, wait=1.0):
        """Bytes the server sends without being asked within wait."""
        before = self.sock.gettimeout()
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            chunk = b""
        finally:
            self.sock.settimeout(before)
        self.buf += chunk
        return chunk


# -------------------------------------------------------------------- load

class Load:
    """SENDERS threads sending numbered messages over SMTP until halted;
    acked maps the Message-ID of each message that got 250 to its queue
    id.  Every remote_share-th message goes to REMOTE, and pad_lines
    lines of PAD make each message bigger."""

    SENDERS = 4
    REMOTE = "user@remote.example"
    PAD = "x" * 76 + "\r\n"

    def __init__(self, d, tag, remote_share=0, pad_lines=0):
        self.d = d
        self.tag = tag
        self.remote_share = remote_share
        self.pad = self.PAD * pad_lines
        self.acked = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,),
                                         daemon=True)
                        for i in range(self.SENDERS)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self, n):
        seq = 0
        while not self.stop.is_set() and seq < 5000:
            seq += 1
            mid = "<%s.%d.%d@client.test>" % (self.tag, n, seq)
            rcpt = "someone@example.test"
            if self.remote_share and seq % self.remote_share == 0:
                rcpt = self.REMOTE
            msg = ("From: load@example.org\r\nTo: %s\r\n"
                   "Subject: load %d %d\r\nMessage-ID: %s\r\n\r\n"
                   "body of %s\r\n%s" % (rcpt, n, seq, mid, mid,
                                          self.pad)).encode()
            try:
                code, text = self.d.send(msg, rcpts=[rcpt])
            except OSError:
                time.sleep(0.05)
                continue
            if code == 250:
                with self.lock:
                    self.acked[mid] = self.d.queue_id_from(text)

    def halt(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def count(self):
        with self.lock:
            return len(self.acked)


def message_ids(maildir):
    """Message-ID -> number of copies in the Maildir."""
    out = {}
    for _, data in maildir.messages():
        mid = header_value(data, "message-id")
        if mid:
            out[mid] = out.get(mid, 0) + 1
    return out


# ------------------------------------------------------------------- users

DROP_GROUP = "bulwarkdrop"

# Run argv[2:] as nobody, with argv[1] laid over /etc in a private mount
# namespace, so that a program reads the test's config at the default
# path (-C is for root only).
AS_USER = ('mount --make-rprivate / && '
           'mount -t overlay overlay -o lowerdir="$1":/etc /etc && '
           'shift && exec runuser -u nobody -- "$@"')

_as_user_ok = None


def as_user_ok():
    """Why a user's run (user_cli) cannot be set up here, or None when
    it can."""
    global _as_user_ok
    if _as_user_ok is not None:
        return _as_user_ok or None
    why = ""
    if not IS_ROOT:
        why = "needs root"
    elif not shutil.which("unshare") or not shutil.which("runuser"):
        why = "needs unshare and runuser"
    else:
        try:
            grp.getgrnam(DROP_GROUP)
            pwd.getpwnam("nobody")
        except KeyError:
            why = "needs the group %s and the user nobody" % DROP_GROUP
    if not why:
        lower = tempfile.mkdtemp(prefix="bulwark-it-probe-")
        try:
            p = subprocess.run(["unshare", "-m", "sh", "-c", AS_USER,
                                "sh", lower, "true"], capture_output=True,
                               timeout=30)
        finally:
            os.rmdir(lower)
        if p.returncode != 0:
            why = "no mount namespace with overlayfs: %s" % (
                p.stderr.decode("utf-8", "replace").strip())
    _as_user_ok = why
    return why or None


def user_cli(d, prog, args, data=b""):
    """Run prog as the user nobody the way a real install does: a copy
    owned by root, group bulwarkdrop, mode 2755 (set-gid), reading the
    test's config as /etc/bulwark/bulwark.conf."""
    bindir = os.path.join(d.tmp, "bin")
    lower = os.path.join(d.tmp, "etc-lower")
    copy = os.path.join(bindir, os.path.basename(prog))
    if not os.path.exists(copy):
        os.makedirs(bindir, 0o755, exist_ok=True)
        shutil.copy(prog, copy)
        os.chown(copy, 0, grp.getgrnam(DROP_GROUP).gr_gid)
        os.chmod(copy, 0o2755)
    os.makedirs(os.path.join(lower, "bulwark"), 0o755, exist_ok=True)
    shutil.copy(d.conf_path, os.path.join(lower, "bulwark", "bulwark.conf"))
    os.chmod(os.path.join(lower, "bulwark", "bulwark.conf"), 0o644)
    return subprocess.run(["unshare", "-m", "sh", "-c", AS_USER, "sh",
                           lower, copy] + list(args),
                          input=data, capture_output=True, timeout=60,
                          env=d.env(), cwd=d.tmp)


# ------------------------------------------------------------------- sinks

class PySink:
    """A small SMTP server in a thread, on a loopback port or, with
    unix_path, on a Unix socket.  Records each command line (commands,
    with "." for each end of data) and each message it takes (messages:
    mail_from, rcpts, data with CRLF and dot-stuffing undone).

    It answers every stage with success, except that fail_code goes to
    the first fail_first attempts at one stage (fail_at: "mail", "rcpt"
    or "dot", the end of data), and that replies overrides any of
    "mail", "rcpt", "data" (the DATA command) and "dot": a reply line,
    a function of the address (for "rcpt"; else of None) that returns
    one, or None to close the connection there."""

    def __init__(self, fail_first=0, fail_code="451 4.3.0 Try again later",
                 fail_at="rcpt", pipelining=True, port=0, replies=None,
                 unix_path=None):
        self.fail_first = fail_first
        self.fail_code = fail_code
        self.fail_at = fail_at
        self.pipelining = pipelining
        self.replies = dict(replies or {})
        self.unix_path = unix_path
        self.closed = False
        self.messages = []
        self.commands = []
        self.attempts = 0
        self.connections = 0
        self.lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 60

            def handle(self):
                sink._session(self.rfile, self.wfile)

        base = (socketserver.ThreadingUnixStreamServer if unix_path
                else socketserver.ThreadingTCPServer)

        class Server(base):
            daemon_threads = True
            allow_reuse_address = True
            # The default backlog of 5 drops connections when the queue
            # flushes hundreds of messages at once; a client whose
            # handshake the kernel dropped then waits for a greeting that
            # never comes.
            request_queue_size = 512

        self.server = Server(unix_path or ("127.0.0.1", port), Handler)
        self.port = None if unix_path else self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def close(self):
        """Stop serving; a second call does nothing (the socket's path
        may belong to someone else by then)."""
        if self.closed:
            return
        self.closed = True
        self.server.shutdown()
        self.server.server_close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)

    def _failing(self):
        with self.lock:
            return self.attempts <= self.fail_first

    def _reply(self, stage, arg, failing, default):
        """The reply at stage; None: close the connection."""
        if stage in self.replies:
            r = self.replies[stage]
            return r(arg) if callable(r) else r
        return self.fail_code if failing and self.fail_at == stage \
            else default

    def _data(self, rfile):
        """The message up to the lone dot, or None if the client left."""
        data = bytearray()
        while True:
            ln = rfile.readline(1 << 20)
            if not ln:
                return None
            if ln == b".\r\n":
                return bytes(data)
            data += ln[1:] if ln.startswith(b".") else ln

    def _session(self, rfile, wfile):
        with self.lock:
            self.connections += 1

        def out(s):
            wfile.write(s.encode() + b"\r\n")
            wfile.flush()

        def note(cmd):
            with self.lock:
                self.commands.append(cmd)
        out("220 pysink ESMTP")
        mail_from, rcpts, failing = None, [], False
        while True:
            line = rfile.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
            note(cmd)
            verb = cmd[:4].upper()
            reply = "250 2.0.0 Ok"
            if verb == "EHLO":
                caps = ["250-pysink", "250-8BITMIME", "250-SIZE 50000000"]
                if self.pipelining:
                    caps.append("250-PIPELINING")
                caps.append("250 ENHANCEDSTATUSCODES")
                reply = "\r\n".join(caps)
            elif verb == "HELO":
                reply = "250 pysink"
            elif verb == "MAIL":
                with self.lock:
                    self.attempts += 1
                failing = self._failing()
                sender = cmd[10:].split(" ")[0]
                reply = self._reply("mail", sender, failing, "250 2.1.0 Ok")
                ok = reply is not None and reply.startswith("2")
                mail_from, rcpts = (sender if ok else None), []
            elif verb == "RCPT" and mail_from is None:
                reply = "503 5.5.1 Need MAIL"
            elif verb == "RCPT":
                addr = cmd[8:].strip()
                reply = self._reply("rcpt", addr.strip("<>"), failing,
                                    "250 2.1.5 Ok")
                if reply is not None and reply.startswith("2"):
                    rcpts.append(addr)
            elif verb == "DATA" and (mail_from is None or not rcpts):
                reply = "554 5.5.1 No valid recipients"
            elif verb == "DATA":
                reply = self._reply("data", None, failing,
                                    "354 End data with <CR><LF>.<CR><LF>")
                if reply is not None and reply.startswith("354"):
                    out(reply)
                    data = self._data(rfile)
                    if data is None:
                        return
                    note(".")
                    reply = self._reply("dot", None, failing,
                                        "250 2.0.0 Ok: queued")
                    if reply is not None and reply.startswith("2"):
                        with self.lock:
                            self.messages.append({
                                "from": mail_from, "rcpts": list(rcpts),
                                "data": data})
                    mail_from, rcpts = None, []
            elif verb == "RSET":
                mail_from, rcpts = None, []
            elif verb == "QUIT":
                out("221 2.0.0 Bye")
                return
            elif verb != "NOOP":
                reply = "502 5.5.2 Error: command not recognized"
            if reply is None:
                return
            out(reply)

    def wait_messages(self, n, timeout):
        return wait_until(lambda: len(self.messages) >= n, timeout)

    def message_ids(self):
        """Message-ID -> number of copies taken."""
        out = {}
        for m in list(self.messages):
            mid = header_value(m["data"], "message-id")
            out[mid] = out.get(mid, 0) + 1
        return out


class SmtpSink:
    """Postfix's smtp-sink, dumping each message to a file in a folder."""

    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="sink-", dir=tmp)
        os.chmod(self.dir, 0o777)
        self.port = free_port()
        exe = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        argv = [exe]
        if IS_ROOT:
            argv += ["-u", "root"]
        argv += ["-d", os.path.join(self.dir, "%M."),
                 "127.0.0.1:%d" % self.port, "100"]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        ok = wait_until(self._listening, 10)
        if not ok:
            self.close()
            raise AssertionError("smtp-sink did not start")

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("smtp-sink exited: %s" %
                                 self.proc.stderr.read())
        try:
            with socket.create_connection(("127.0.0.1", self.port), 1):
                return True
        except OSError:
            return False

    def dumps(self):
        out = []
        for n in sorted(os.listdir(self.dir)):
            with open(os.path.join(self.dir, n), "rb") as f:
                out.append(f.read())
        return out

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --------------------------------------------------------------- test base

class BulwarkTest(unittest.TestCase):
    """Base class: makes daemons and sinks and always cleans them up."""

    maxDiff = 4000

    def setUp(self):
        self.daemons = []
        if not os.access(BULWARKD, os.X_OK):
            self.fail("no bulwarkd at %s (set BULWARK_BUILD)" % BULWARKD)

    def daemon(self, start=True, **conf):
        d = Daemon(self.id().rsplit(".", 1)[-1][:40], **conf)
        self.daemons.append(d)
        self.addCleanup(self._finish, d)
        if start:
            d.start()
        return d

    def _finish(self, d):
        reports = d.sanitizer_reports()
        d.cleanup()
        if reports:
            self.fail("sanitizer report in the daemon's log (%s):\n%s"
                      % (", ".join(reports), d.log_tail(200)))

    def pysink(self, **kw):
        s = PySink(**kw)
        self.addCleanup(s.close)
        return s

    def settle(self, d):
        """Wait until d has handled all it took so far: a marker sent
        now has reached the mailbox "marker" and the queue is empty.
        After that, a check that something did not arrive is sound."""
        box = d.maildir("marker")
        before = box.count()
        code, text = d.send(b"Subject: marker\r\n\r\nmarker\r\n",
                            rcpts=["marker@example.test"])
        self.assertEqual(code, 250, text)
        self.assertTrue(box.wait_count(before + 1, 30),
                        "the marker never arrived:\n%s" % d.log_tail())
        self.assertTrue(wait_until(d.queue_empty, 30, step=0.2),
                        "the queue did not empty:\n%s" % d.mailq())

    def require(self, why):
        """A precondition of the test is missing (why; None when it is
        there): a skip when not root, a failure as root, where every
        precondition can be met (CI runs as root)."""
        if why is None:
            return
        if IS_ROOT:
            self.fail("running as root, yet: %s" % why)
        self.skipTest(why)

    def as_user_possible(self):
        """Whether user_cli works here; as root it must (see require)."""
        why = as_user_ok()
        if why is not None and IS_ROOT:
            self.require(why)
        return why is None

    def smtpsink(self, d):
        s = SmtpSink(d.tmp)
        self.addCleanup(s.close)
        return s

    def assertDelivered(self, got, original, test_id=None, what=None,
                        fields=("return-path", "delivered-to",
                                "received")):
        """got: the bytes of one delivered message.  It must be the
        original (plus the X-Test-Id line when test_id is given) after
        exactly the trace fields Bulwark adds."""
        what = what or test_id
        ok, names, rest, want = delivered_intact(got, original, test_id,
                                                 fields)
        if ok:
            return
        if rest == want:
            self.fail("%s: trace fields in front: %s, want %s"
                      % (what, names, list(fields)))
        p = _diffpos(rest, want)
        self.fail("%s: delivered message differs from the original "
                  "(%d vs %d bytes); first difference at %d:\n"
                  "got  %r\nwant %r" % (
                      what, len(rest), len(want), p,
                      rest[max(0, p - 60):p + 60],
                      want[max(0, p - 60):p + 60]))

    def assertRefused(self, result, expected, what):
        """expected like 'refused 550 5.6.0'."""
        code, text = result
        _, ecode, estatus = expected.split()
        self.assertEqual((code, text.split(" ")[0] if text else ""),
                         (int(ecode), estatus),
                         "%s: expected %s %s, got %s %s"
                         % (what, ecode, estatus, code, text))


def _diffpos(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def stop_everything():
    """For the watchdog: kill every daemon still running."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for d in live:
        try:
            d.kill_all()
        except Exception:
            pass


# ------------------------------------------------------------ crash matrix
#
# Helpers for tests/integration/test_crash.py: find a role's process and
# what it holds open by reading /proc only (cheap enough to poll every
# millisecond), watch the log folder, crash the queue, and index what
# arrived incrementally (tens of thousands of messages per test).

def child_pids(pid):
    """The children of pid, from /proc/PID/task/PID/children."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def role_pid(d, role, exclude=()):
    """The pid of d's child that runs role (not one of exclude), or
    None.  A child between fork and exec has no -R yet and is passed
    over."""
    if not d.running():
        return None
    for c in child_pids(d.pid):
        if c not in exclude and proc_role(c) == role:
            d.known.setdefault(c, _proc_start_time(c))
            return c
    return None


def holds_open(pid, path):
    """Does pid hold a descriptor on path, or on a file below it?"""
    fds = "/proc/%d/fd" % pid
    try:
        names = os.listdir(fds)
    except OSError:
        return False
    for n in names:
        try:
            link = os.readlink(os.path.join(fds, n))
        except OSError:
            continue
        if link == path or link.startswith(path + "/"):
            return True
    return False


def wait_gone(pid, timeout=20):
    """Wait until pid has ended (a zombie counts as ended)."""
    if not wait_until(lambda: not proc_alive(pid), timeout, step=0.005):
        raise AssertionError("process %d still there after %ds"
                             % (pid, timeout))


def _signal_queue(d, sig):
    """Send sig to d's queue process; its pid once it is gone."""
    q = role_pid(d, "queue")
    if q is None:
        raise AssertionError("no queue process to signal")
    os.kill(q, sig)
    wait_gone(q)
    return q


def kill_queue(d):
    """kill -9 of d's queue process; returns its pid once it is gone."""
    return _signal_queue(d, signal.SIGKILL)


def kill_tree(d):
    """kill -9 of d's master and every process below it (found through
    /proc, so that the signals go out together); returns time.time()
    of the first.  d.kill_all() then takes what was forked meanwhile."""
    pids = [d.pid] if d.running() else []
    i = 0
    while i < len(pids):
        pids += [c for c in child_pids(pids[i]) if c not in pids]
        i += 1
    for p in pids:
        d.known.setdefault(p, _proc_start_time(p))
    t = time.time()
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    d.kill_all()
    return t


def power_cut(d):
    """The test build's power cut (SIGUSR2 to the queue: every segment
    cut to its last synced length, the spare unlinked, _exit(137)).
    Returns the queue's pid once it is gone."""
    return _signal_queue(d, signal.SIGUSR2)


def log_segments(d, folder="log"):
    """Numbers of the segment files in <spool>/<folder>."""
    try:
        names = os.listdir(os.path.join(d.spool, folder))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if n.endswith(".seg") and len(n) == 20:
            try:
                out.append(int(n[:16], 16))
            except ValueError:
                pass
    return out


def wait_new_segment(d, timeout, folder="log"):
    """Poll <spool>/<folder> until a segment numbered above every one
    there now appears; return (its number, time.time() when seen), or
    None after timeout."""
    top = max(log_segments(d, folder), default=-1)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        segs = log_segments(d, folder)
        if segs and max(segs) > top:
            return max(segs), time.time()
        time.sleep(0.0005)
    return None


def _recovery_summary(pid):
    # With one log: "recovery: segments=..."; with the cold log, the hot
    # log's line comes last: "recovery: hot log: segments=...".
    return re.compile(rb"(?m)^.*queue\[%s\]: recovery: (?:hot log: )?"
                      rb"segments=.*$" % (str(pid).encode()
                                          if pid else rb"\d+"))


def recovery_done(d, pid):
    """Has the queue process pid logged (the last line of) its recovery
    summary?"""
    return _recovery_summary(pid).search(d.log()) is not None


def recovery_msec(d):
    """How long the last recovery in d's log took (ms), or None."""
    lines = _recovery_summary(None).findall(d.log())
    m = re.search(rb"time=(\d+)ms", lines[-1]) if lines else None
    return int(m.group(1)) if m else None


def queued_ids(d):
    """The queue ids mailq lists, or None when it gave no listing."""
    out = d.mailq()
    if "Mail queue is empty" in out:
        return set()
    if not re.search(r"(?m)^-- \d+ Kbytes in \d+ Requests?\.$", out):
        return None
    return set(re.findall(r"(?m)^([0-9A-Z]{12})[* ]", out))


class _StampedList(list):
    def append(self, m):
        m["time"] = time.time()
        list.append(self, m)


class StampedSink(PySink):
    """A PySink that also notes when it took each message (its "time",
    from time.time()), and says nothing of a client that went away
    mid-session (a crashed agent)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.messages = _StampedList()
        loud = self.server.handle_error

        def handle_error(request, client_address):
            if not isinstance(sys.exc_info()[1], ConnectionError):
                loud(request, client_address)
        self.server.handle_error = handle_error


class Arrivals:
    """Message-ID -> the arrival times of its copies, in a Maildir (the
    file's mtime) and at sinks (a StampedSink's time).  Each file and
    sink message is read once, so polling stays cheap."""

    def __init__(self, maildir=None, sinks=()):
        self.maildir = maildir
        self.sinks = list(sinks)
        self.seen = set()
        self.taken = {}
        self.times = {}

    def _note(self, data, when):
        mid = header_value(data, "message-id")
        self.times.setdefault(mid, []).append(when)

    def refresh(self):
        """Read what is new; returns the map."""
        if self.maildir is not None:
            for p in self.maildir.new_files():
                if p in self.seen:
                    continue
                try:
                    when = os.stat(p).st_mtime
                    with open(p, "rb") as f:
                        data = f.read()
                except FileNotFoundError:
                    continue
                self.seen.add(p)
                self._note(data, when)
        for s in self.sinks:
            msgs = list(s.messages)
            for m in msgs[self.taken.get(id(s), 0):]:
                self._note(m["data"], m.get("time", time.time()))
            self.taken[id(s)] = len(msgs)
        return self.times

    def missing(self, mids):
        have = self.refresh()
        return [m for m in mids if m not in have]

    def wait_all(self, mids, timeout):
        """Wait until every Message-ID in mids has arrived; returns
        those still missing."""
        mids = list(mids)
        wait_until(lambda: not self.missing(mids), timeout, step=0.2)
        return self.missing(mids)


class LogWatch:
    """The lines a daemon's log gains from now on, read incrementally."""

    def __init__(self, d):
        self.path = d.log_path
        try:
            self.pos = os.path.getsize(self.path)
        except OSError:
            self.pos = 0
        self.rest = b""

    def lines(self):
        """Complete lines written since the last call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return []
        self.pos += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()
        return lines
