"""jobtest: helpers for the batch job integration tests (issue 5).

A Daemon runs the real polytransd with the tiny fixture model on a socket
in a private folder, with its jobs under that folder's state/; a Client
speaks msgpack-RPC with python3-msgpack, as any client would.
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

SKIP = 77


class Skip(Exception):
    """Raised to skip a test (exit 77) with a reason."""


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def fixture(name):
    d = os.environ.get("FIXTURES")
    if not d:
        raise Skip("FIXTURES is not set (run through meson test)")
    p = os.path.join(d, name)
    if not os.path.exists(p):
        raise Skip("fixture %s is missing" % p)
    return p


def daemon_exe():
    exe = os.environ.get("POLYTRANSD")
    if not exe or not os.path.exists(exe):
        raise Skip("POLYTRANSD is not set or missing (run through meson test)")
    return exe


class Daemon:
    """polytransd on a private socket, its state in self.dir/state."""

    def __init__(self, settings=None, base=None):
        self.exe = daemon_exe()
        base = base or os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
        # A short path: sun_path holds 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="ptj-", dir="/tmp" if len(base) > 60 else base)
        os.chmod(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "polytrans.sock")
        self.state = os.path.join(self.dir, "state")
        self.env = dict(os.environ)
        self.env.update({"XDG_RUNTIME_DIR": self.dir,
                         "XDG_CONFIG_HOME": os.path.join(self.dir, "cfg"),
                         "XDG_DATA_HOME": os.path.join(self.dir, "data"),
                         "XDG_STATE_HOME": self.state})
        for k in ("LISTEN_FDS", "LISTEN_PID", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                  "JOURNAL_STREAM"):
            self.env.pop(k, None)
        self.cmd = [self.exe, "--threads", "1", "--model", fixture("tiny-f32.gguf"),
                    "--socket", self.sock, "--log-level", "debug"]
        for k, v in (settings or {}).items():
            self.cmd += ["--" + k, str(v)]
        self.log = os.path.join(self.dir, "stderr.log")
        self.proc = None
        self.start()

    def jobs_dir(self):
        return os.path.join(self.state, "polytrans", "jobs")

    def start(self):
        if os.path.exists(self.sock):
            os.unlink(self.sock)  # left by a SIGKILL
        self.logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=self.logf)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("polytransd exited with %d:\n%s"
                                     % (self.proc.returncode, self.log_text()[-3000:]))
            try:
                c = Client(self.sock)
                c.call("api_info")
                c.close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("polytransd did not start:\n" + self.log_text()[-3000:])

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        self.proc.wait(30)
        self.logf.close()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("polytransd did not stop on SIGTERM")
        self.logf.close()
        # In a sanitizer build, what it found (leaks at exit included).
        log = self.log_text()
        check("Sanitizer" not in log, "sanitizer report:\n" + log[-6000:])

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class RPCError(Exception):
    def __init__(self, code, message):
        Exception.__init__(self, "%s: %s" % (code, message))
        self.code = code
        self.message = message


class Client:
    """msgpack-RPC over the Unix socket; notifications are kept in order."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(120)
        self.s.connect(path)
        self.unp = msgpack.Unpacker(raw=False)
        self.msgid = 0
        self.replies = {}
        self.notes = []
        self.order = []  # msgids in the order their replies arrived

    def close(self):
        self.s.close()

    def send(self, method, **params):
        self.msgid += 1
        self.s.sendall(msgpack.packb([0, self.msgid, method, [params]], use_bin_type=True))
        return self.msgid

    def _read(self):
        data = self.s.recv(1 << 16)
        if not data:
            raise ConnectionError("the daemon closed the connection")
        self.unp.feed(data)
        for msg in self.unp:
            if msg[0] == 1:
                self.replies[msg[1]] = (msg[2], msg[3])
                self.order.append(msg[1])
            elif msg[0] == 2:
                self.notes.append((msg[1], msg[2][0]))

    def wait(self, msgid):
        while msgid not in self.replies:
            self._read()
        err, res = self.replies.pop(msgid)
        if err is not None:
            raise RPCError(err.get("code"), err.get("message"))
        return res

    def call(self, method, **params):
        return self.wait(self.send(method, **params))


def wait_state(c, job, states, timeout=300):
    """Polls job.status until the job's state is one of states."""
    deadline = time.time() + timeout
    while True:
        st = c.call("job.status", job=job)
        if st["state"] in states:
            return st
        if time.time() > deadline:
            raise AssertionError("job %s still %s after %ds" % (job, st, timeout))
        time.sleep(0.05)


def run(main):
    """Runs main(), mapping Skip to exit 77 and failures to exit 1."""
    try:
        main()
    except Skip as e:
        print("SKIP:", e)
        sys.exit(SKIP)
    except AssertionError as e:
        print("FAIL:", e)
        sys.exit(1)
    print("ok")
