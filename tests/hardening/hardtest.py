"""hardtest: helpers for the hardening tests (issue 7).

A Daemon runs the real polytransd with a tiny fixture model on a socket in
a private folder; it can be started under resource limits (ulimit -n,
-v, -f) and reports its memory from /proc. Stopping it checks what a
sanitizer build found: a nonzero exit or a sanitizer report in its stderr
fails the test, so leaks at exit and invalid accesses are never silent.
A Client speaks msgpack-RPC with python3-msgpack, as any client would.
"""

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import msgpack

# What a sanitizer prints: ASan, LSan, UBSan (runtime error), TSan.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "Sanitizer:DEADLYSIGNAL")


class Skip(Exception):
    """Raised to skip a test (exit 77) with a reason."""


def fail(msg):
    if len(msg) > 4000:
        msg = msg[:2000] + " [... %d characters ...] " % (len(msg) - 4000) + msg[-2000:]
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def fixture(name):
    d = os.environ.get("FIXTURES")
    if not d:
        raise Skip("FIXTURES is not set (run through meson test)")
    p = os.path.join(d, name)
    if not os.path.exists(p):
        raise Skip("fixture %s is missing" % p)
    return p


def sanitized(exe):
    """True if exe was built with AddressSanitizer (its memory figures
    and address-space limits do not mean what they mean without)."""
    with open(exe, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"libasan.so" in data


def sanitizer_report(text):
    """The first sanitizer line of a log, or None."""
    for line in text.splitlines():
        if any(m in line for m in SANITIZER_MARKS):
            return line
    return None


def short_tmpdir(prefix):
    """A private folder with a short path (sun_path holds 107 bytes)."""
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp" if len(base) > 50 else base)
    os.chmod(d, 0o700)
    return d


def rlimits_fn(limits):
    """A preexec_fn setting {RLIMIT_x: value or (soft, hard)} in the child."""
    def fn():
        for k, v in limits.items():
            resource.setrlimit(k, v if isinstance(v, tuple) else (v, v))
    return fn


class Daemon:
    """polytransd on a private socket. settings become --key value."""

    def __init__(self, exe, settings=None, model="tiny-f32.gguf", limits=None, env=None,
                 wait=True, dir=None, sock=None):
        self.exe = exe
        if dir is not None:
            os.makedirs(dir, 0o700, exist_ok=True)
        self.dir = dir or short_tmpdir("pth-")
        self.sock = sock or os.path.join(self.dir, "polytrans.sock")
        self.state = os.path.join(self.dir, "state")
        self.env = dict(os.environ)
        for k in ("LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                  "JOURNAL_STREAM", "POLYTRANS_MODEL_PATH"):
            self.env.pop(k, None)
        self.env.update({"XDG_RUNTIME_DIR": self.dir,
                         "XDG_CONFIG_HOME": os.path.join(self.dir, "cfg"),
                         "XDG_DATA_HOME": os.path.join(self.dir, "data"),
                         "XDG_STATE_HOME": self.state})
        if sanitized(exe):
            # A small quarantine: memory freed is reused sooner, so RSS
            # figures mean something (leaks are still reported at exit).
            self.env["ASAN_OPTIONS"] = (self.env.get("ASAN_OPTIONS", "") +
                                        ":quarantine_size_mb=16").lstrip(":")
        self.env.update(env or {})
        self.model = model if model is None or os.path.isabs(model) else fixture(model)
        self.cmd = [exe, "--threads", "1", "--socket", self.sock]
        if self.model:
            self.cmd += ["--model", self.model]
        for k, v in (settings or {}).items():
            self.cmd += ["--" + k.replace("_", "-"), str(v)]
        self.limits = limits or {}
        self.log = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.logf = None
        self.start(wait)

    def start(self, wait=True):
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=self.logf, preexec_fn=rlimits_fn(self.limits))
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                fail("polytransd exited with %d before serving:\n%s"
                     % (self.proc.returncode, self.stderr()[-3000:]))
            try:
                c = Client(self.sock, timeout=10)
                c.call("api_info", {})
                c.close()
                return
            except (OSError, Closed):
                time.sleep(0.05)
        fail("polytransd did not answer within %d s:\n%s" % (timeout, self.stderr()[-3000:]))

    def stderr(self):
        if self.logf is not None:
            self.logf.flush()
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status_field(self, name):
        """A field of /proc/PID/status in kB (VmRSS, VmHWM), or None."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith(name + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def rss_kb(self):
        return self.status_field("VmRSS")

    def n_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def cpu_s(self):
        """User + system CPU seconds used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(60)
        self.logf.close()
        self.logf = None

    def stop(self, timeout=60):
        """SIGTERM; checks exit status 0 and a clean sanitizer log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("polytransd did not exit within %d s of SIGTERM:\n%s"
                 % (timeout, self.stderr()[-3000:]))
        log = self.stderr()
        rep = sanitizer_report(log)
        check(rep is None, "sanitizer report from polytransd: %s\n%s" % (rep, log[-6000:]))
        check(rc == 0, "polytransd exited with %d:\n%s" % (rc, log[-3000:]))
        return rc

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.logf is not None:
            self.logf.close()
            self.logf = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, etype, *a):
        try:
            # A test that ends with the daemon still running stops it
            # here, so that its exit (and what a sanitizer says) counts.
            if etype is None and self.alive():
                self.stop()
        finally:
            self.close()


class Closed(Exception):
    """The daemon closed the connection."""


class RPCError(Exception):
    def __init__(self, err):
        super().__init__("%s: %s" % (err.get("code"), err.get("message")))
        self.code = err.get("code")
        self.message = err.get("message")


class Client:
    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        try:
            self.s.connect(path)
        except OSError:
            self.s.close()
            raise
        self.u = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.next_id = 1
        self.pending = []

    def send(self, method, params, msgid=None):
        if msgid is None:
            msgid = self.next_id
            self.next_id += 1
        self.s.sendall(msgpack.packb([0, msgid, method, [params]], use_bin_type=True))
        return msgid

    def read_msg(self):
        if self.pending:
            return self.pending.pop(0)
        while True:
            for m in self.u:
                return m
            try:
                data = self.s.recv(1 << 16)
            except ConnectionResetError:
                data = b""
            if not data:
                raise Closed()
            self.u.feed(data)

    def wait_reply(self, msgid):
        """The response to msgid; notifications are dropped, other
        responses kept for later."""
        kept = []
        try:
            while True:
                m = self.read_msg()
                if m[0] == 1 and m[1] == msgid:
                    return m
                if m[0] == 1:
                    kept.append(m)
        finally:
            self.pending = kept + self.pending

    def call(self, method, params):
        m = self.wait_reply(self.send(method, params))
        if m[2] is not None:
            raise RPCError(m[2])
        return m[3]

    def closed_by_peer(self, timeout=10):
        """True if the daemon closes the connection within timeout."""
        self.s.settimeout(timeout)
        try:
            while True:
                data = self.s.recv(1 << 16)
                if not data:
                    return True
                self.u.feed(data)
                self.pending.extend(self.u)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.s.close()


def run(tests):
    """Runs the scenario named by argv[2] (argv[1] is polytransd)."""
    if len(sys.argv) < 3 or sys.argv[2] not in tests:
        print("usage: %s POLYTRANSD SCENARIO (%s)" % (sys.argv[0], " ".join(tests)))
        return 2
    try:
        tests[sys.argv[2]](sys.argv[1], *sys.argv[3:])
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    print("ok")
    return 0
