#!/usr/bin/python3
"""Security (issue 7, item 5): who may reach polytransd and how much one
connection may take. One scenario per run: test-security.py POLYTRANSD
SCENARIO [ARG].

  folder   the socket's folder refused when it is reachable by others:
           group- or world-writable (0770, 0777, 1777 like /tmp) or, as
           root, owned by another user (nobody), also when reached through
           a symlink; nothing is created in a refused folder
  symlink  a symlink in the socket's place (dangling, or to another
           daemon's live socket) and a symlink in place of the lock file
           are refused and left as they were; the target is not created
  jobs     the jobs folder owned by another user or writable by others:
           job methods answer with the reason, translation goes on; a job
           whose output name is a symlink replaces the link and does not
           write through it; a FIFO among the job's paths is refused at
           once (no hang)
  limits   max_clients (one more is closed at once, logged, the others
           served), max_requests_per_client (one more translate: busy),
           max_message_bytes (a message over it closes that connection
           only, even when it only announces the size; so do 100000
           levels of nesting and a map announcing 4 G pairs), and memory per
           client: 16 clients each holding a message just under the limit
           cost the daemon about 16 x the limit, not more
  systemd  `systemd-analyze security --offline=yes` on the built unit:
           prints the exposure score; fails above 2.0 (the unit scores
           1.6 with systemd 252; a higher score means a sandboxing line
           was lost). Skipped where systemd-analyze cannot do it.
"""

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hardtest import (Client, Closed, Daemon, RPCError, Skip, check, fail,  # noqa: E402
                      fixture, run, short_tmpdir)

NOBODY = 65534
TR = {"text": "Guten Morgen.", "to": "en", "from": "de", "max_tokens": 4}


def start_refused(exe, sock, expect, env=None):
    """polytransd on sock must exit 1 at once with `expect` in stderr."""
    cmd = [exe, "--threads", "1", "--model", fixture("tiny-f32.gguf"), "--socket", sock]
    e = dict(os.environ)
    e.update({"XDG_CONFIG_HOME": "/nonexistent", "XDG_STATE_HOME": os.path.dirname(sock)})
    e.update(env or {})
    p = subprocess.run(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1 and expect in err,
          "%s: expected exit 1 with %r, got %d: %s" % (sock, expect, p.returncode, err[-1500:]))
    return err


# ---- folder ---------------------------------------------------------------------------

def t_folder(exe):
    tmp = short_tmpdir("pts-")
    try:
        d = os.path.join(tmp, "run")
        os.mkdir(d)
        sock = os.path.join(d, "polytrans.sock")
        for mode in (0o770, 0o777, 0o1777, 0o720, 0o702):
            os.chmod(d, mode)
            start_refused(exe, sock, "writable by others")
            check(os.listdir(d) == [], "files made in a refused folder (mode %o): %r"
                  % (mode, os.listdir(d)))
        print("folder: modes 770 777 1777 720 702 refused")
        os.chmod(d, 0o700)
        if os.geteuid() != 0:
            print("folder: not root: the other-owner cases are skipped")
            return
        os.chown(d, NOBODY, NOBODY)
        start_refused(exe, sock, "belongs to uid %d" % NOBODY)
        check(os.listdir(d) == [], "files made in another user's folder")
        # The same folder through a symlink of ours.
        link = os.path.join(tmp, "link")
        os.symlink(d, link)
        start_refused(exe, os.path.join(link, "polytrans.sock"), "belongs to uid %d" % NOBODY)
        print("folder: owned by nobody refused, also through a symlink")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- symlink --------------------------------------------------------------------------

def t_symlink(exe):
    tmp = short_tmpdir("pts-")
    try:
        sock = os.path.join(tmp, "polytrans.sock")
        target = os.path.join(tmp, "elsewhere.sock")
        os.symlink(target, sock)
        start_refused(exe, sock, "not a socket")
        check(os.path.islink(sock) and not os.path.exists(target),
              "the dangling symlink was followed or changed")
        os.unlink(sock)
        # A symlink to another daemon's live socket: not taken over.
        with Daemon(exe) as other:
            os.symlink(other.sock, sock)
            start_refused(exe, sock, "not a socket")
            check(os.path.islink(sock), "the symlink was replaced")
            check("version" in Client(other.sock).call("status", {}), "the other daemon")
        os.unlink(sock)
        # The lock file: a symlink there is not followed.
        victim = os.path.join(tmp, "victim")
        if os.path.lexists(sock + ".lock"):
            os.unlink(sock + ".lock")  # a plain lock file left by the refusals above
        os.symlink(victim, sock + ".lock")
        start_refused(exe, sock, "polytrans.sock.lock")
        check(not os.path.exists(victim), "the lock symlink was followed: %s created" % victim)
        check(not os.path.exists(sock), "a socket was made although the lock was refused")
        print("symlink: socket (dangling, to a live socket) and lock symlinks refused")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- jobs ------------------------------------------------------------------------------

def job_refused(exe, state, expect):
    with Daemon(exe, settings={"state_dir": state, "max_tokens": 4}) as d:
        c = Client(d.sock)
        try:
            c.call("job.submit", {"files": [{"name": "a.txt", "content": b"Hallo.\n"}],
                                  "to": "en"})
            fail("a job was accepted in %s" % state)
        except RPCError as e:
            check(expect in e.message, "job refusal: %s" % e)
        check(isinstance(c.call("translate", TR)["text"], str), "translate with jobs refused")
        c.close()


def t_jobs(exe):
    tmp = short_tmpdir("pts-")
    try:
        state = os.path.join(tmp, "state")
        os.makedirs(os.path.join(state, "jobs"))
        os.chmod(os.path.join(state, "jobs"), 0o777)
        job_refused(exe, state, "writable by others")
        if os.geteuid() == 0:
            os.chmod(os.path.join(state, "jobs"), 0o700)
            os.chown(os.path.join(state, "jobs"), NOBODY, NOBODY)
            job_refused(exe, state, "owned by uid %d" % NOBODY)
            print("jobs: a jobs folder owned by nobody or writable by others refused")
        shutil.rmtree(state)
        with Daemon(exe, settings={"max_tokens": 4}) as d:
            c = Client(d.sock)
            out = os.path.join(tmp, "out")
            os.mkdir(out, 0o700)
            victim = os.path.join(tmp, "victim.txt")
            with open(victim, "w") as f:
                f.write("keep me\n")
            os.symlink(victim, os.path.join(out, "doc.txt"))
            job = c.call("job.submit", {"files": [{"name": "doc.txt",
                                                   "content": b"Guten Morgen.\n"}],
                                        "to": "en", "from": "de", "output": out})["job"]
            t0 = time.time()
            while time.time() - t0 < 120:
                st = c.call("job.status", {"job": job})
                if st["state"] in ("done", "failed", "cancelled"):
                    break
                time.sleep(0.05)
            check(st["state"] == "done", "job: %r" % st)
            with open(victim) as f:
                check(f.read() == "keep me\n", "the output was written through a symlink")
            check(not os.path.islink(os.path.join(out, "doc.txt")) and
                  os.path.isfile(os.path.join(out, "doc.txt")), "the output is not a file")
            # A FIFO among the paths: refused at once, not waited on.
            fifo = os.path.join(tmp, "fifo.txt")
            os.mkfifo(fifo)
            t0 = time.time()
            try:
                c.call("job.submit", {"paths": [fifo], "to": "en"})
                fail("a FIFO was accepted as a document")
            except RPCError as e:
                check("not a regular file" in e.message, "FIFO refusal: %s" % e)
            check(time.time() - t0 < 10, "the FIFO held the daemon %.1f s" % (time.time() - t0))
            c.close()
        print("jobs: output symlink replaced, not followed; a FIFO refused")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- limits ------------------------------------------------------------------------------

def t_limits(exe):
    with Daemon(exe, settings={"max_clients": 3, "log_level": "info"}) as d:
        cs = [Client(d.sock) for _ in range(3)]
        for c in cs:
            check("version" in c.call("status", {}), "client under max_clients")
        extra = Client(d.sock)
        check(extra.closed_by_peer(), "a 4th client was served with max_clients 3")
        check("max_clients" in d.stderr(), "no log of the refusal")
        check(all("version" in c.call("status", {}) for c in cs), "the 3 clients after that")
        cs[0].close()
        time.sleep(0.3)
        c4 = Client(d.sock)
        check("version" in c4.call("status", {}), "a client after one left")
        for c in cs[1:] + [c4]:
            c.close()
    print("limits: max_clients 3: a 4th refused and logged, served again after one left")

    with Daemon(exe, settings={"max_requests_per_client": 3, "max_tokens": 24}) as d:
        c = Client(d.sock)
        ids = [c.send("translate", dict(TR, max_tokens=24)) for _ in range(4)]
        replies = {i: c.wait_reply(i) for i in ids}
        busy = [i for i in ids if replies[i][2] is not None]
        check(busy == [ids[3]] and replies[ids[3]][2]["code"] == "busy",
              "4 translates with max_requests_per_client 3: %r"
              % [replies[i][2] for i in ids])
        other = Client(d.sock)
        check(isinstance(other.call("translate", TR)["text"], str), "another connection")
        c.close()
        other.close()
    print("limits: max_requests_per_client 3: the 4th translate answered busy")

    limit = 1 << 20
    with Daemon(exe, settings={"max_message_bytes": limit}) as d:
        w = Client(d.sock)
        # Just under the limit: served.
        text = "a" * (limit - 200)
        check(w.call("detect", {"text": text})["language"], "a message under the limit")
        # Over the limit: that connection is closed, no reply needed.
        big = Client(d.sock)
        try:
            big.s.sendall(msgpack.packb([0, 1, "detect", [{"text": "a" * (limit + 100)}]]))
            refused = big.closed_by_peer()
        except (BrokenPipeError, ConnectionResetError):
            refused = True  # closed while we were still sending
        check(refused, "a message over max_message_bytes was not refused")
        # Only announced: a str32 header claiming 1 GiB, then nothing.
        liar = Client(d.sock)
        rss0 = d.rss_kb()
        liar.s.sendall(b"\x94\x00\x01\xa6detect\x91\x81\xa4text\xdb" + (1 << 30).to_bytes(4, "big"))
        check(liar.closed_by_peer(), "a 1 GiB announcement was not refused")
        check(d.rss_kb() - rss0 < 64 * 1024, "RSS grew %d kB on an announcement"
              % (d.rss_kb() - rss0))
        # Deep nesting and a map announcing 4 G pairs: no recursion, no
        # allocation of what is announced; that connection only.
        for what, data in (("nesting", b"\x94\x00\x01\xa6status\x91" + b"\x91" * 100000),
                           ("4 G map", b"\x94\x00\x02\xa6status\x91\xdf\xff\xff\xff\xff")):
            h = Client(d.sock)
            try:
                h.s.sendall(data)
                refused = h.closed_by_peer()
            except (BrokenPipeError, ConnectionResetError):
                refused = True
            check(refused, "%s: the connection stayed open" % what)
            h.close()
        check(d.rss_kb() - rss0 < 64 * 1024, "RSS grew %d kB on the hostile messages"
              % (d.rss_kb() - rss0))
        check("version" in w.call("status", {}), "the other client after the refusals")
        print("limits: max_message_bytes 1 MiB: over it, or announcing 1 GiB, closes that "
              "connection only")
        # Memory per client: 16 clients each park a message 64 kB short
        # of the limit.
        rss0 = d.rss_kb()
        part = msgpack.packb([0, 1, "detect", [{"text": "b" * (limit - 65536)}]])[:-100]
        holders = [Client(d.sock) for _ in range(16)]
        for h in holders:
            h.s.sendall(part)
        time.sleep(1)
        grown = d.rss_kb() - rss0
        print("limits: 16 clients holding %d kB each: RSS +%d kB" % (len(part) >> 10, grown))
        check(grown < 16 * 3 * (limit >> 10), "RSS grew %d kB for 16 partial messages" % grown)
        check("version" in w.call("status", {}), "served while others hold partial messages")
        for h in holders:
            h.close()
        w.close()


# ---- systemd ------------------------------------------------------------------------------

def t_systemd(exe, unit=None):
    sa = shutil.which("systemd-analyze")
    if sa is None:
        raise Skip("systemd-analyze is not installed")
    if unit is None or not os.path.exists(unit):
        raise Skip("the built polytransd.service was not given")
    p = subprocess.run([sa, "security", "--offline=yes", "--no-pager", unit],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\S+)", out)
    if m is None:
        if "--offline" in out or "Unknown option" in out or "unrecognized" in out:
            raise Skip("this systemd-analyze has no --offline (systemd < 250)")
        fail("no exposure level in:\n%s" % out[-3000:])
    score = float(m.group(1))
    unsafe = [line.split()[1] for line in out.splitlines() if line.startswith("\u2717")]
    print("systemd: exposure level %.1f %s (%d settings not hardened: %s)"
          % (score, m.group(2), len(unsafe), " ".join(unsafe[:20])))
    check(score <= 2.0, "exposure level %.1f, above 2.0: a sandboxing setting was lost?" % score)


TESTS = {"folder": t_folder, "symlink": t_symlink, "jobs": t_jobs, "limits": t_limits,
         "systemd": t_systemd}

if __name__ == "__main__":
    sys.exit(run(TESTS))
