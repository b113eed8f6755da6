#!/usr/bin/python3
"""Faults (issue 7, item 4): polytransd under resource exhaustion and
hostile clients, one scenario per run: test-faults.py POLYTRANSD SCENARIO.

  fds        started under a low `ulimit -n` (it says at start that max_clients
             needs more), three times more clients than
             descriptors: the clients it cannot take are closed at once (no
             busy loop on EMFILE: the daemon's CPU time stays low while they
             wait), the others are served, a job submitted meanwhile is
             answered; once clients leave, new ones are served again. With
             a soft limit too low and a hard one high enough, it raises
             the soft one
  kvcache    a model with a 65536-token context and max_beams 16 under an
             address-space limit (ulimit -v) too small for its KV cache:
             exit 1 at start with a message naming the sequences, positions
             and MiB; with ctx_tokens lowered the same limit serves
             (skipped in an AddressSanitizer build: its shadow memory
             needs terabytes of address space)
  reader     a client sends translate requests and never reads a reply:
             the daemon stops reading it once 8 MiB of replies wait, its
             memory stays bounded (RSS growth < 48 MiB;
             96 MiB in an AddressSanitizer build), other clients are
             served meanwhile; when it goes, the daemon lets go of it
  slowloris  clients that send a request one byte a second: each is
             answered when its last byte arrives, and other clients are
             served meanwhile with no delay (polytransd has no idle or
             read timeout: a connection of the same user holds only its
             own slot of max_clients)
  model      the model file replaced by rename while loaded, then a copy
             truncated in place: the daemon reads the weights into memory
             at start, so both are harmless (same translation, no SIGBUS)
  fsize      a batch job under `ulimit -f` (RLIMIT_FSIZE, a disk quota
             stand-in): the journal write fails with EFBIG, the job fails
             ("File too large"), input and journal kept; after a restart
             without the limit it completes with the output of a run that
             never failed (SIGXFSZ must not kill the daemon)
  cancelrace a cancel racing the end of its request: `cancelled: true` is
             always followed by the request's `cancelled` error, false by
             its translation, as polytrans-protocol(7) says
  killsubmit SIGKILL while a large job.submit is being written: after a
             restart the job is there whole or not at all, no left-overs
The full disk (a small tmpfs) and SIGKILL in the middle of a job are
tests/jobs' scenarios `full` and `crash`.
"""

import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hardtest import (Client, Closed, Daemon, RPCError, Skip, check, fail, fixture,  # noqa: E402
                      run, sanitized, short_tmpdir)

TR = {"text": "Guten Morgen, wie geht es dir?", "to": "en", "from": "de", "max_tokens": 6}


def served(c):
    """True if c gets an answer to status; False if it was closed."""
    try:
        return "version" in c.call("status", {})
    except (Closed, ConnectionResetError, BrokenPipeError):
        return False


# ---- fds --------------------------------------------------------------------------

def t_fds(exe):
    # What the daemon opens for itself (loop, signals, threads, jobs) plus
    # a few clients.
    limit = 24
    with Daemon(exe, limits={resource.RLIMIT_NOFILE: limit},
                settings={"log_level": "debug"}) as d:
        base = d.n_fds()
        check(base < limit - 4, "the daemon uses %d descriptors at rest" % base)
        clients = []
        for _ in range(3 * limit):
            try:
                clients.append(Client(d.sock, timeout=20))
            except OSError as e:
                fail("connect failed (the backlog should take it): %s" % e)
        cpu0, t0 = d.cpu_s(), time.time()
        time.sleep(2)
        cpu = d.cpu_s() - cpu0
        print("fds: limit %d, %d at rest, %d at the limit; CPU %.2f s in %.1f s with "
              "%d clients waiting" % (limit, base, d.n_fds(), cpu, time.time() - t0,
                                      len(clients)))
        check(cpu < 0.5, "polytransd used %.2f s of CPU in 2 s at the fd limit "
              "(a busy accept loop?)" % cpu)
        ok = [c for c in clients if served(c)]
        n_closed = len(clients) - len(ok)
        print("fds: %d clients served, %d closed by the daemon" % (len(ok), n_closed))
        check(ok and n_closed > 0, "served %d, closed %d" % (len(ok), n_closed))
        # At the limit a job needs descriptors too: an answer either way.
        try:
            ok[0].call("job.submit", {"files": [{"name": "a.txt", "content": b"Hallo.\n"}],
                                      "to": "en", "from": "de"})
            job = "accepted"
        except RPCError as e:
            job = "refused: %s" % e
        print("fds: a job at the limit: %s" % job)
        jobs = os.path.join(d.state, "polytrans", "jobs")
        if job != "accepted" and os.path.isdir(jobs):
            check(not [n for n in os.listdir(jobs) if n.startswith(".new-")],
                  "a refused submission left %r" % os.listdir(jobs))
        check(served(ok[0]), "the client that submitted was dropped")
        for c in clients:
            c.close()
        time.sleep(0.5)
        late = [Client(d.sock) for _ in range(limit - base - 2)]
        check(all(served(c) for c in late), "not all new clients served after the others left")
        check(isinstance(late[0].call("translate", TR)["text"], str), "translate after recovery")
        for c in late:
            c.close()
        check("needs about %d file descriptors, the limit is %d" % (64 + 64, limit)
              in d.stderr(), "no warning at start that ulimit -n is too low for max_clients")
    # A soft limit below what max_clients needs and a hard one above it:
    # the daemon raises the soft one.
    with Daemon(exe, limits={resource.RLIMIT_NOFILE: (limit, 4096)}) as d:
        with open("/proc/%d/limits" % d.proc.pid) as f:
            soft = [int(line.split()[3]) for line in f if line.startswith("Max open files")][0]
        print("fds: soft limit %d, hard 4096: the daemon raised it to %d" % (limit, soft))
        check(soft >= 64 + 64, "soft limit left at %d" % soft)


# ---- kvcache -------------------------------------------------------------------------

def big_ctx_model(tmp, n_ctx=65536):
    """The tiny model with an n_ctx-token context: its position embedding
    repeated (a Hugging Face checkpoint of that context would carry an
    n_ctx x n_ctx attention mask buffer)."""
    tools = os.environ.get("TOOLS")
    if not tools:
        raise Skip("TOOLS is not set (run through meson test)")
    sys.path.insert(0, tools)
    import ptgguf
    r = ptgguf.GGUFReader(fixture("tiny-f32.gguf"))
    out = os.path.join(tmp, "ctx%d.gguf" % n_ctx)
    w = ptgguf.GGUFWriter(out, alignment=r.alignment)
    for key, value in r.kv.items():
        if key == "general.alignment" and r.alignment != ptgguf.DEFAULT_ALIGNMENT:
            continue
        vtype, etype = r.kv_types[key]
        w._add(key, vtype, n_ctx if key == "gpt2.context_length" else value, etype)
    check("gpt2.context_length" in r.kv, "no gpt2.context_length in the fixture")
    for name, t in r.tensors.items():
        ne = list(t["ne"])
        if name == "position_embd.weight":
            ne[1] = n_ctx
        w.add_tensor_info(name, ne, t["type"])
    w.write_header()
    for name, t in r.tensors.items():
        data = r.tensor_bytes(name).copy()
        if name == "position_embd.weight":
            check(t["type"] == ptgguf.GGML_F32, "position_embd is not f32")
            rows = data.view("<f4").reshape(t["ne"][1], t["ne"][0])
            data = np.resize(rows, (n_ctx, t["ne"][0]))
        w.write_tensor_data(name, data)
    w.close()
    del data
    r.close()
    return out


def t_kvcache(exe):
    if sanitized(exe):
        raise Skip("AddressSanitizer build: an address-space limit stops it before main")
    tmp = short_tmpdir("ptk-")
    try:
        model = big_ctx_model(tmp)
        # KV cache: 2 x 2 layers x 65536 positions x 64 x 4 bytes x 28
        # sequences (16 beams, 8 batch slots, 4 cached prefixes) = 1.75 GiB,
        # beyond the limit; 1024 positions fit.
        lim = {resource.RLIMIT_AS: 768 << 20}
        d = Daemon(exe, model=model, settings={"max_beams": 16}, limits=lim, wait=False)
        try:
            rc = d.proc.wait(120)
            err = d.stderr()
            print("kvcache: exit %d: %s" % (rc, err.strip().splitlines()[-1:]))
            check(rc == 1, "exit status %d (not a clean failure):\n%s" % (rc, err[-2000:]))
            check("out of memory for a context of 28 sequences x 65536 positions" in err and
                  "MiB" in err, "no clear message:\n%s" % err[-2000:])
            check(not os.path.exists(d.sock), "socket left behind")
        finally:
            d.close()
        with Daemon(exe, model=model, settings={"max_beams": 16, "ctx_tokens": 1024},
                    limits=lim) as d:
            res = Client(d.sock).call("translate", TR)
            check(isinstance(res["text"], str), "translate: %r" % res)
            print("kvcache: with ctx_tokens 1024 under the same limit: served")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- reader ----------------------------------------------------------------------------

def t_reader(exe):
    with Daemon(exe, settings={"log_level": "debug", "max_tokens": 4,
                               "max_requests_per_client": 4096, "queue_size": 1 << 16}) as d:
        rss0 = d.rss_kb()
        c = Client(d.sock, timeout=120)
        # Requests whose replies are bigger than the requests: `languages`.
        chunk = b"".join(msgpack.packb([0, i, "languages", []]) for i in range(2000))
        stop = threading.Event()
        sent = [0]

        def flood():
            try:
                while not stop.is_set():
                    c.s.sendall(chunk)
                    sent[0] += 2000
            except OSError:
                pass

        t = threading.Thread(target=flood)
        t.start()
        t0 = time.time()
        while "pausing its input" not in d.stderr() and time.time() - t0 < 60:
            time.sleep(0.1)
        check("pausing its input" in d.stderr(), "never paused:\n%s" % d.stderr()[-2000:])
        time.sleep(3)  # the flood goes on against a full socket
        peak = max(d.rss_kb(), d.status_field("VmHWM"))
        w = Client(d.sock)
        t1 = time.time()
        check(isinstance(w.call("translate", TR)["text"], str), "witness translate")
        check("language" in w.call("detect", {"text": "Dzień dobry"}), "witness detect")
        lat = time.time() - t1
        print("reader: %d requests sent unread; RSS %d kB -> peak %d kB (+%d kB); "
              "a witness served in %.2f s" % (sent[0], rss0, peak, peak - rss0, lat))
        # 8 MiB of replies held, the decoder's buffer, the kernel's socket
        # buffers; an AddressSanitizer build also quarantines 16 MiB.
        bound = 48 * 1024 if not sanitized(exe) else 96 * 1024
        check(peak - rss0 < bound, "daemon RSS grew by %d kB (bound %d kB)"
              % (peak - rss0, bound))
        # The flooding client goes away without reading.
        c.s.shutdown(2)
        stop.set()
        t.join(30)
        c.close()
        for _ in range(100):
            if w.call("status", {})["clients"] == 1:
                break
            time.sleep(0.1)
        check(w.call("status", {})["clients"] == 1, "the flooding client is still counted")
        w.close()


# ---- slowloris ---------------------------------------------------------------------------

def t_slowloris(exe):
    n_slow = 8
    with Daemon(exe) as d:
        slow = [Client(d.sock, timeout=60) for _ in range(n_slow)]
        req = msgpack.packb([0, 7, "status", []])
        worst = 0.0
        t0 = time.time()
        for i in range(len(req)):
            for c in slow:
                c.s.sendall(req[i:i + 1])
            # Another client meanwhile: answered at once.
            w = Client(d.sock)
            t1 = time.time()
            check(isinstance(w.call("translate", TR)["text"], str), "witness")
            worst = max(worst, time.time() - t1)
            w.close()
            time.sleep(max(0.0, t0 + i + 1 - time.time()))
        for c in slow:
            m = c.wait_reply(7)
            check(m[2] is None and "version" in m[3], "slow client's answer %r" % (m,))
            c.close()
        print("slowloris: %d clients at one byte a second for %d s; witness requests "
              "answered in at most %.2f s" % (n_slow, len(req), worst))
        check(worst < 10, "a witness waited %.1f s" % worst)


# ---- model ------------------------------------------------------------------------------------

def t_model(exe):
    tmp = short_tmpdir("ptm-")
    try:
        model = os.path.join(tmp, "model.gguf")
        shutil.copy(fixture("tiny-f32.gguf"), model)
        # Truncated in place: what a mapping of the file would die of.
        with Daemon(exe, model=model) as d:
            c = Client(d.sock)
            ref = c.call("translate", TR)["text"]
            os.truncate(model, 0)
            with open(model, "r+b") as f:
                f.write(b"GGUF garbage")
            try:
                got = c.call("translate", TR)["text"]
            except Closed:
                fail("the daemon died when its model file was truncated:\n%s"
                     % d.stderr()[-2000:])
            check(got == ref, "after truncating the model file: %r vs %r" % (got, ref))
            c.close()
        # Replaced by rename (as a package upgrade does): the old inode
        # lives on; the new model is used from the next start.
        shutil.copy(fixture("tiny-f32.gguf"), model)
        with Daemon(exe, model=model) as d:
            c = Client(d.sock)
            other = os.path.join(tmp, "other.gguf")
            shutil.copy(fixture("tiny-f16.gguf"), other)
            os.rename(other, model)
            check(c.call("translate", TR)["text"] == ref, "after a rename over the model")
            c.close()
        print("model: truncated in place, replaced by rename: same translation")
        # A model file that is not whole at start: a clear error.
        with open(model, "wb") as f:
            with open(fixture("tiny-f32.gguf"), "rb") as g:
                f.write(g.read()[:100000])
        d = Daemon(exe, model=model, wait=False)
        try:
            rc = d.proc.wait(60)
            check(rc == 1 and "model.gguf" in d.stderr(), "truncated model at start: %d %s"
                  % (rc, d.stderr()[-1000:]))
        finally:
            d.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- fsize -------------------------------------------------------------------------------------

def doc(n):
    return "".join("Item %d: the quick brown fox jumps over the lazy dog near the river.\n\n"
                   % i for i in range(n)).encode()


def wait_job(d, c, job, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        try:
            st = c.call("job.status", {"job": job})
        except (Closed, OSError):
            time.sleep(0.5)
            fail("polytransd went away in the middle of a job (exit %r):\n%s"
                 % (d.proc.poll(), d.stderr()[-2000:]))
        if st["state"] in ("done", "failed", "cancelled"):
            return st
        time.sleep(0.05)
    fail("job %s not finished after %d s: %r" % (job, timeout, st))


def t_fsize(exe):
    content = doc(200)  # 14 kB in; the journal passes 16 kB in the middle
    sets = {"max_tokens": 8, "log_level": "error"}
    with Daemon(exe, settings=sets) as d:
        c = Client(d.sock)
        job = c.call("job.submit", {"files": [{"name": "doc.txt", "content": content}],
                                    "to": "de", "from": "en"})["job"]
        st = wait_job(d, c, job)
        check(st["state"] == "done", "reference job: %r" % st)
        ref = c.call("job.result", {"job": job})["outputs"][0]["content"]
        c.close()
    tmp = short_tmpdir("ptf-")
    try:
        out = os.path.join(tmp, "out")
        os.mkdir(out)
        d = Daemon(exe, settings=sets, limits={resource.RLIMIT_FSIZE: 16384},
                   dir=os.path.join(tmp, "d"))
        os.chmod(d.dir, 0o700)
        try:
            c = Client(d.sock)
            job = c.call("job.submit", {"files": [{"name": "doc.txt", "content": content}],
                                        "to": "de", "from": "en", "output": out})["job"]
            st = wait_job(d, c, job)
            check(d.alive(), "polytransd died (SIGXFSZ?): exit %r\n%s"
                  % (d.proc.returncode, d.stderr()[-2000:]))
            msg = (st.get("errors") or [{}])[0].get("message", "")
            print("fsize: job %s after %d of %d segments: %s" % (st["state"], st["done"],
                                                                 st["total"], msg))
            check(st["state"] == "failed" and ("EFBIG" in msg or "too large" in msg),
                  "job under RLIMIT_FSIZE: %r" % st)
            jdir = os.path.join(d.state, "polytrans", "jobs", job)
            check(os.path.getsize(os.path.join(jdir, "in", "0")) == len(content), "input kept")
            check(os.path.getsize(os.path.join(jdir, "journal")) > 0, "journal kept")
            check(isinstance(c.call("translate", TR)["text"], str), "translate after the failure")
            c.close()
            d.stop()
            # Without the limit the job is retried and completes.
            d.limits = {}
            d.start()
            c = Client(d.sock)
            c.call("job.status", {"job": job})
            t0 = time.time()
            while time.time() - t0 < 300:
                st = c.call("job.status", {"job": job})
                if st["state"] == "done":
                    break
                time.sleep(0.1)
            check(st["state"] == "done", "job after the limit is gone: %r" % st)
            with open(os.path.join(out, "doc.txt"), "rb") as f:
                check(f.read() == ref, "output differs from a run that never failed")
            print("fsize: completed after a restart without the limit; same output")
            c.close()
            d.stop()
        finally:
            d.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- cancelrace ------------------------------------------------------------------------------

def t_cancelrace(exe):
    """A cancel that meets a request finishing: `cancelled: true` must
    mean the request is answered `cancelled`, false that it is answered
    with its translation (both happen here, by design of the timing)."""
    rng = random.Random(int(os.environ.get("CANCEL_SEED", 3)))
    seen = {}
    with Daemon(exe, settings={"log_level": "warn"}) as d:
        c = Client(d.sock)
        # Half the cancels go at once, half after up to `late` seconds;
        # `late` grows while no request has finished before its cancel
        # (a slow machine, valgrind), so that both cases are reached.
        late = 0.004
        for i in range(1500):
            if i % 100 == 99 and (False, None) not in seen:
                late = min(late * 2, 0.5)
            tid = c.send("translate", dict(TR, max_tokens=rng.choice([1, 2, 3])))
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0, late))
            cid = c.send("cancel", {"request": tid})
            said = c.wait_reply(cid)[3]["cancelled"]
            m = c.wait_reply(tid)
            got = None if m[2] is None else m[2]["code"]
            seen[(said, got)] = seen.get((said, got), 0) + 1
            check((said, got) in ((True, "cancelled"), (False, None)),
                  "cancel answered cancelled=%r, the request answered %r" % (said, m[2:]))
        c.close()
    print("cancelrace: %s" % ", ".join("cancelled=%s -> %s: %d" % (k[0], k[1] or "result", v)
                                       for k, v in sorted(seen.items(), key=str)))
    check(len(seen) == 2, "the timing never hit one of the cases: %r" % seen)


# ---- killsubmit ---------------------------------------------------------------------------------

def t_killsubmit(exe):
    """SIGKILL while a large job.submit is being written to disk, at
    several points: after a restart the job exists whole (and completes)
    or not at all, and no half-written submission is left."""
    files = [{"name": "f%02d.txt" % i, "content": doc(2) + b"x" * (256 << 10)}
             for i in range(24)]
    rng = random.Random(int(os.environ.get("KILL_SEED", 5)))
    outcomes = []
    with Daemon(exe, settings={"max_tokens": 2, "log_level": "info"}) as d:
        jobs = os.path.join(d.state, "polytrans", "jobs")
        # How long a submission takes here, from the first byte sent.
        c = Client(d.sock)
        t0 = time.time()
        job = c.call("job.submit", {"files": files, "to": "de", "from": "en"})["job"]
        took = time.time() - t0
        c.close()
        d.kill()
        shutil.rmtree(os.path.join(jobs, job))
        d.start()
        for k in range(8):
            c = Client(d.sock)
            c.send("job.submit", {"files": files, "to": "de", "from": "en"})
            time.sleep(rng.uniform(0, 0.4) * took)
            d.kill()
            c.close()
            d.start()
            left = [n for n in os.listdir(jobs) if n.startswith(".")]
            check(not left, "left-overs after restart %d: %r" % (k, left))
            c = Client(d.sock)
            listed = c.call("job.list", {})["jobs"]
            outcomes.append(len(listed))
            check(len(listed) <= 1, "%d jobs from one submission" % len(listed))
            for j in listed:
                check(j["files"] == len(files), "a job with %d of %d files" % (j["files"],
                                                                              len(files)))
                check(j["state"] in ("queued", "running"), "state after restart: %r" % j)
            c.close()
            # The next round starts from an empty folder.
            d.kill()
            for j in listed:
                shutil.rmtree(os.path.join(jobs, j["job"]))
            d.start()
    swept = d.stderr().count("removed an interrupted submission")
    print("killsubmit: a submission takes %.3f s; 8 kills in it; jobs found after each "
          "restart: %s (1 = it had finished, 0 = not); %d half-written submissions swept"
          % (took, outcomes, swept))


TESTS = {"cancelrace": t_cancelrace, "killsubmit": t_killsubmit, "fds": t_fds, "kvcache": t_kvcache, "reader": t_reader, "slowloris": t_slowloris,
         "model": t_model, "fsize": t_fsize}

if __name__ == "__main__":
    sys.exit(run(TESTS))
