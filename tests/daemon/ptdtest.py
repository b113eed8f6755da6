"""ptdtest: helpers for the polytransd integration tests.

A Daemon runs the real polytransd on a socket in a private temporary
XDG_RUNTIME_DIR with the tiny fixture model; a Client speaks msgpack-RPC to
it with python3-msgpack, as any third-party client would.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import msgpack


class Skip(Exception):
    """Raised to skip a test (exit 77) with a reason."""


def fail(msg):
    # A reply can be megabytes of nonsense text: keep the message readable.
    if len(msg) > 3000:
        msg = msg[:1500] + " [... %d characters ...] " % (len(msg) - 3000) + msg[-1500:]
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


class Daemon:
    """polytransd on a private socket. Extra settings become --key value."""

    def __init__(self, exe, settings=None, config=None, env=None, args=None,
                 wait=True, model="tiny-f32.gguf", base=None):
        self.exe = exe
        base = base or os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        # A short path: sun_path holds 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="ptd-", dir="/tmp" if len(base) > 60 else base)
        os.chmod(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "polytrans.sock")
        self.conf = os.path.join(self.dir, "polytrans.conf")
        with open(self.conf, "w") as f:
            f.write(config or "# empty\n")
        self.env = dict(os.environ)
        self.env.update({"XDG_RUNTIME_DIR": self.dir,
                         "XDG_CONFIG_HOME": os.path.join(self.dir, "cfg"),
                         "XDG_DATA_HOME": os.path.join(self.dir, "data"),
                         "XDG_STATE_HOME": os.path.join(self.dir, "state")})
        for k in ("LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                  "JOURNAL_STREAM", "POLYTRANS_MODEL_PATH"):
            self.env.pop(k, None)
        self.env.update(env or {})
        cmd = [exe, "--config", self.conf, "--threads", "1"]
        if model:
            cmd += ["--model", fixture(model)]
        for k, v in (settings or {}).items():
            cmd += ["--" + k, str(v)]
        cmd += args or []
        self.cmd = cmd
        self.log = os.path.join(self.dir, "stderr.log")
        self.logf = open(self.log, "wb")
        self.start(wait)

    def start(self, wait=True):
        """Starts polytransd (again) with the same command line."""
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=self.logf)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=30, path=None):
        path = path or self.sock
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                fail("polytransd exited with %d before serving:\n%s"
                     % (self.proc.returncode, self.stderr()))
            if os.path.exists(path):
                try:
                    c = Client(path)
                    c.call("api_info", {})
                    c.close()
                    return
                except OSError:
                    pass
            time.sleep(0.05)
        fail("polytransd did not answer within %d s:\n%s" % (timeout, self.stderr()))

    def stderr(self):
        self.logf.flush()
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
            self.sanitizer_check()
            return rc
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("polytransd did not exit within %d s of SIGTERM:\n%s"
                 % (timeout, self.stderr()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def sanitizer_check(self):
        """Fails if a sanitizer build of polytransd reported anything
        (an invalid access, undefined behaviour, leaks at exit)."""
        log = self.stderr()
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                 "Sanitizer:DEADLYSIGNAL")
        if any(m in log for m in marks):
            i = min(log.find(m) for m in marks if m in log)
            fail("sanitizer report from polytransd:\n" + log[max(0, i - 200):i + 6000])

    def __enter__(self):
        return self

    def __exit__(self, etype, *a):
        try:
            if etype is None and self.proc.poll() is not None:
                self.sanitizer_check()
        finally:
            self.close()


class Closed(Exception):
    """The daemon closed the connection."""


class Client:
    def __init__(self, path, timeout=60):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.u = msgpack.Unpacker(raw=False, strict_map_key=False)
        self.next_id = 1
        self.pending = []   # messages read but not consumed yet

    def send_raw(self, data):
        self.s.sendall(data)

    def send(self, method, params, msgid=None):
        if msgid is None:
            msgid = self.next_id
            self.next_id += 1
        self.s.sendall(msgpack.packb([0, msgid, method, [params]], use_bin_type=True))
        return msgid

    def read_msg(self):
        """The next message, or Closed at EOF."""
        if self.pending:
            return self.pending.pop(0)
        while True:
            for m in self.u:
                return m
            data = self.s.recv(1 << 16)
            if not data:
                raise Closed()
            self.u.feed(data)

    def wait_reply(self, msgid, notes=None):
        """The response to msgid; notifications go to notes, other
        responses are kept for later."""
        kept = []
        try:
            while True:
                m = self.read_msg()
                if m[0] == 1 and m[1] == msgid:
                    return m
                if m[0] == 2 and notes is not None:
                    notes.append(m)
                else:
                    kept.append(m)
        finally:
            self.pending = kept + self.pending

    def call(self, method, params, notes=None):
        """The result, or raises RPCError."""
        m = self.wait_reply(self.send(method, params), notes)
        if m[2] is not None:
            raise RPCError(m[2])
        return m[3]

    def closed_by_peer(self, timeout=10):
        """True if the daemon closes the connection (replies before are
        kept in self.pending)."""
        self.s.settimeout(timeout)
        try:
            while True:
                data = self.s.recv(1 << 16)
                if not data:
                    return True
                self.u.feed(data)
                for m in self.u:
                    self.pending.append(m)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


class RPCError(Exception):
    def __init__(self, err):
        super().__init__("%s: %s" % (err.get("code"), err.get("message")))
        self.code = err.get("code")
        self.message = err.get("message")


def run(tests):
    """Runs the test named by argv[2] (argv[1] is polytransd)."""
    if len(sys.argv) < 3 or sys.argv[2] not in tests:
        print("usage: %s POLYTRANSD TEST (%s)" % (sys.argv[0], " ".join(tests)))
        return 2
    try:
        tests[sys.argv[2]](sys.argv[1], *sys.argv[3:])
    except Skip as e:
        print("SKIP: %s" % e)
        return 77
    print("ok")
    return 0
