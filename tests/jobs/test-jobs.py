#!/usr/bin/python3
"""Batch jobs against the real polytransd and the tiny fixture model
(issue 5). One scenario per run: test-jobs.py SCENARIO, with
  crash        a 300-segment job killed with SIGKILL at random points and
               restarted each time (once with a torn journal record; the
               last stop a SIGTERM) ends with the output of an
               uninterrupted run, byte for byte
  readonly     a read-only output folder fails the job cleanly (input and
               journal kept); it completes once the folder is writable
  full         the jobs folder's disk fills up in the middle of a job: the
               job fails with ENOSPC, keeps input and journal, and
               completes once there is room, with the output of an
               uninterrupted run (needs root and mount: skipped otherwise)
  cancel       cancel in the middle of a job
  interactive  two jobs and translate requests at once: the requests are
               answered before the jobs' remaining segments; the jobs take
               turns; a job of higher priority goes before them
  fields       job.submit/status/list/result fields and errors, paths,
               formats, progress notifications, jobs kept over a restart
The tiny model's output is nonsense but deterministic (greedy decoding).
"""

import os
import random
import re
import signal
import stat
import struct
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jobtest import Client, Daemon, RPCError, Skip, check, run, wait_state  # noqa: E402

# Short answers keep the runs short; they change nothing of what is tested.
SETTINGS = {"max_tokens": 8}
FINAL = ("done", "failed", "cancelled")


def doc(n, tag="Item"):
    """A plain text of n paragraphs of one sentence each: n segments."""
    return "".join("%s %d: the quick brown fox jumps over the lazy dog near the river.\n\n"
                   % (tag, i) for i in range(n)).encode()


def submit(c, name, content, **kw):
    kw.setdefault("to", "de")
    kw.setdefault("from", "en")
    return c.call("job.submit", files=[{"name": name, "content": content}], **kw)["job"]


def journal_records(path):
    """Intact records of a journal, as the daemon reads it (job-journal.c)."""
    with open(path, "rb") as f:
        data = f.read()
    off, recs = 0, []
    while len(data) - off >= 28:
        magic, n, fi, seg, _src, _flags = struct.unpack_from("<6I", data, off)
        if magic != 0x524a5450 or len(data) - off - 28 < n:
            break
        crc, = struct.unpack_from("<I", data, off + 24 + n)
        if zlib.crc32(data[off:off + 24 + n]) != crc:
            break
        recs.append((fi, seg, off))
        off += 28 + n
    return recs, off, len(data)


def reference(content, segs):
    """Output of an uninterrupted run."""
    d = Daemon(SETTINGS)
    try:
        c = Client(d.sock)
        job = submit(c, "doc.txt", content)
        st = wait_state(c, job, FINAL)
        check(st["state"] == "done" and st["total"] == segs,
              "reference run: %r" % st)
        out = c.call("job.result", job=job)["outputs"][0]["content"]
        c.close()
        d.stop()
        return out
    finally:
        d.cleanup()


# ---- crash --------------------------------------------------------------------

def scenario_crash():
    content = doc(300)
    ref = reference(content, 300)
    seed = int(os.environ.get("JOBS_SEED", time.time()))
    rng = random.Random(seed)
    print("seed", seed)
    points = sorted(rng.sample(range(5, 290), 4))
    d = Daemon(SETTINGS)
    try:
        outdir = os.path.join(d.dir, "out")
        os.mkdir(outdir)
        c = Client(d.sock)
        job = submit(c, "doc.txt", content, output=outdir)
        jdir = os.path.join(d.jobs_dir(), job)
        for k, point in enumerate(points):
            while True:
                st = c.call("job.status", job=job)
                if st["done"] >= point or st["state"] in FINAL:
                    break
                time.sleep(rng.uniform(0, 0.02))
            check(st["state"] == "running", "job ended before kill %d: %r" % (k, st))
            seen = st["done"]
            c.close()
            # The last stop is an orderly one (SIGTERM): chunks in the
            # engine are cancelled, the job resumes the same way.
            d.kill(signal.SIGTERM if k == len(points) - 1 else signal.SIGKILL)
            recs, good, size = journal_records(os.path.join(jdir, "journal"))
            check(len(recs) >= seen and good == size,
                  "kill %d: %d records on disk, %d segments were reported done"
                  % (k, len(recs), seen))
            expect = len(recs)
            if k == 1:
                # A crash in the middle of a write: the last record torn.
                with open(os.path.join(jdir, "journal"), "r+b") as f:
                    f.truncate(size - 7)
                expect -= 1
            d.start()
            # The job is read again in the background: wait for its log line.
            pattern = r"job %s: resumed, (\d+) of 300" % job
            deadline = time.time() + 60
            while len(re.findall(pattern, d.log_text())) <= k and time.time() < deadline:
                time.sleep(0.02)
            log = d.log_text()
            resumed = re.findall(pattern, log)
            check(len(resumed) == k + 1, "kill %d: no resume logged" % k)
            check(resumed and int(resumed[-1]) == expect,
                  "kill %d: resumed with %s segments, expected %d" % (k, resumed[-1:], expect))
            if k == 1:
                check("dropped a torn or corrupt tail" in log, "torn record not reported")
            print("kill %d at %d done: resumed with %d" % (k, seen, expect))
            c = Client(d.sock)
        st = wait_state(c, job, FINAL)
        check(st["state"] == "done" and st["done"] == 300, "final: %r" % st)
        with open(os.path.join(outdir, "doc.txt"), "rb") as f:
            out = f.read()
        check(out == ref, "output after %d kills differs from the uninterrupted run "
              "(%d vs %d bytes)" % (len(points), len(out), len(ref)))
        check(not [n for n in os.listdir(outdir) if n != "doc.txt"],
              "temporary files left in the output folder: %r" % os.listdir(outdir))
        c.close()
        d.stop()
    finally:
        d.cleanup()


# ---- readonly -------------------------------------------------------------------

def make_readonly(path):
    """Makes a folder unwritable; returns how, or raises Skip."""
    if os.geteuid() != 0:
        os.chmod(path, 0o555)
        return "chmod"
    # root ignores modes: an immutable folder refuses new files.
    if subprocess.call(["chattr", "+i", path], stderr=subprocess.DEVNULL) == 0:
        return "chattr"
    raise Skip("running as root and chattr +i does not work here: cannot make a "
               "read-only folder")


def make_writable(path, how):
    if how == "chmod":
        os.chmod(path, 0o755)
    else:
        subprocess.check_call(["chattr", "-i", path])


def scenario_readonly():
    content = doc(20)
    d = Daemon(SETTINGS)
    outdir = os.path.join(d.dir, "out")
    os.mkdir(outdir)
    how = None
    try:
        how = make_readonly(outdir)
        c = Client(d.sock)
        job = submit(c, "doc.txt", content, output=outdir)
        st = wait_state(c, job, FINAL)
        check(st["state"] == "failed", "expected failed, got %r" % st)
        err = st.get("errors", [{}])[0]
        msg = err.get("message", "")
        check(err.get("file") == "doc.txt", "errors names the file: %r" % st)
        check(re.search(r"EACCES|EPERM|EROFS", msg) and "doc.txt" in msg,
              "error does not say why: %r" % msg)
        check(st["done"] == 20, "the translation is kept: %r" % st)
        jdir = os.path.join(d.jobs_dir(), job)
        check(os.path.getsize(os.path.join(jdir, "in", "0")) == len(content), "input kept")
        recs, _, _ = journal_records(os.path.join(jdir, "journal"))
        check(len(recs) == 20, "journal kept: %d records" % len(recs))
        with open(os.path.join(jdir, "manifest")) as f:
            check("state failed" in f.read(), "manifest says failed")
        res = c.call("job.result", job=job)
        check(res["state"] == "failed" and not res.get("outputs"), "no outputs: %r" % res)
        # Still read-only: asking again tries again (the outputs are written
        # in the background), and fails again, cleanly.
        time.sleep(2.2)
        st = c.call("job.status", job=job)
        check(st["state"] in ("queued", "running", "failed"), "retrying: %r" % st)
        st = wait_state(c, job, FINAL)
        check(st["state"] == "failed" and st["done"] == 20, "still failing: %r" % st)
        make_writable(outdir, how)
        how = None
        time.sleep(2.2)
        st = wait_state(c, job, FINAL, timeout=60)
        check(st["state"] == "done" and "errors" not in st, "after the fix: %r" % st)
        check(os.path.exists(os.path.join(outdir, "doc.txt")), "output written")
        check(os.listdir(outdir) == ["doc.txt"], "no temporary files: %r" % os.listdir(outdir))
        c.close()
        d.stop()
    finally:
        if how is not None:
            make_writable(outdir, how)
        d.cleanup()


# ---- full -------------------------------------------------------------------------

def scenario_full():
    import tempfile
    base = tempfile.mkdtemp(prefix="ptj-fs-")
    fs = os.path.join(base, "fs")
    os.mkdir(fs)
    if os.geteuid() != 0 or subprocess.call(
            ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", fs],
            stderr=subprocess.DEVNULL) != 0:
        os.rmdir(fs)
        os.rmdir(base)
        raise Skip("cannot mount a small tmpfs (needs root and CAP_SYS_ADMIN) to fill up")
    d = None
    try:
        d = Daemon(dict(SETTINGS, state_dir=fs))
        outdir = os.path.join(d.dir, "out")
        os.mkdir(outdir)
        c = Client(d.sock)
        content = doc(300)
        job = submit(c, "doc.txt", content, output=outdir)
        while c.call("job.status", job=job)["done"] < 10:
            time.sleep(0.01)
        filler = os.path.join(fs, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        st = wait_state(c, job, FINAL)
        msg = st.get("errors", [{}])[0].get("message", "")
        check(st["state"] == "failed" and "ENOSPC" in msg, "disk full: %r" % st)
        jdir = os.path.join(fs, "jobs", job)
        recs, good, size = journal_records(os.path.join(jdir, "journal"))
        check(os.path.getsize(os.path.join(jdir, "in", "0")) == len(content), "input kept")
        check(len(recs) >= 10 and len(recs) == st["done"] and good == size,
              "journal kept whole: %d records, %d done" % (len(recs), st["done"]))
        print("failed at %d segments: %s" % (st["done"], msg))
        os.unlink(filler)
        time.sleep(2.2)
        st = wait_state(c, job, FINAL)
        check(st["state"] == "done" and st["done"] == 300, "after making room: %r" % st)
        # The same document in one go gives the same bytes.
        again = submit(c, "doc.txt", content)
        check(wait_state(c, again, FINAL)["state"] == "done", "second job")
        ref = c.call("job.result", job=again)["outputs"][0]["content"]
        with open(os.path.join(outdir, "doc.txt"), "rb") as f:
            check(f.read() == ref, "output after a full disk differs from a run without")
        c.close()
        d.stop()
    finally:
        if d is not None:
            d.cleanup()
        subprocess.call(["umount", fs])
        os.rmdir(fs)
        os.rmdir(base)


# ---- cancel ------------------------------------------------------------------------

def scenario_cancel():
    d = Daemon(SETTINGS)
    try:
        c = Client(d.sock)
        job = submit(c, "doc.txt", doc(300))
        while c.call("job.status", job=job)["done"] < 16:
            time.sleep(0.02)
        check(c.call("job.cancel", job=job)["cancelled"] is True, "cancel says cancelled")
        st = c.call("job.status", job=job)
        check(st["state"] == "cancelled", "state after cancel: %r" % st)
        time.sleep(1.0)
        st2 = c.call("job.status", job=job)
        check(st2["done"] == st["done"] and st2["done"] < 300,
              "no progress after cancel: %r then %r" % (st, st2))
        check(c.call("job.cancel", job=job)["cancelled"] is False, "second cancel")
        res = c.call("job.result", job=job)
        check(res["state"] == "cancelled" and not res.get("outputs"), "result: %r" % res)
        # The engine is free again: a translation is answered at once.
        t0 = time.time()
        c.call("translate", text="Hello there.", to="de", **{"from": "en"})
        check(time.time() - t0 < 5, "translate after cancel took %.1f s" % (time.time() - t0))
        # Kept on disk, and still cancelled after a restart.
        check(os.path.isdir(os.path.join(d.jobs_dir(), job)), "folder kept")
        c.close()
        d.stop()
        d.start()
        c = Client(d.sock)
        st = c.call("job.status", job=job)
        check(st["state"] == "cancelled", "cancelled after restart: %r" % st)
        c.close()
        d.stop()
    finally:
        d.cleanup()


# ---- interactive -------------------------------------------------------------------

def scenario_interactive():
    d = Daemon(SETTINGS)
    try:
        c = Client(d.sock)
        a = submit(c, "a.txt", doc(150, "Alpha"))
        b = submit(c, "b.txt", doc(150, "Beta"))
        while True:
            sa, sb = c.call("job.status", job=a), c.call("job.status", job=b)
            if sa["done"] >= 16 and sb["done"] >= 16:
                break
            time.sleep(0.02)
        # Jobs of one priority take turns, chunk by chunk.
        check(abs(sa["done"] - sb["done"]) <= 24, "unfair: %d vs %d" % (sa["done"], sb["done"]))
        worst = 0
        for i in range(3):
            before = c.call("job.status", job=a)["done"] + c.call("job.status", job=b)["done"]
            t0 = time.time()
            c.call("translate", text="Good morning, how are you %d?" % i, to="fr",
                   **{"from": "en"})
            dt = time.time() - t0
            after = c.call("job.status", job=a)["done"] + c.call("job.status", job=b)["done"]
            # At most the chunks already in the engine finish first.
            worst = max(worst, after - before)
            check(after - before <= 16, "request %d waited for %d job segments" %
                  (i, after - before))
            check(after < 300, "request %d answered only after the jobs" % i)
            print("translate %d: %.3f s, %d job segments meanwhile" % (i, dt, after - before))
        # A job of higher priority runs before them: while it runs, they get
        # no more than the chunks they already had in the engine.
        before = c.call("job.status", job=a)["done"] + c.call("job.status", job=b)["done"]
        hi = submit(c, "hi.txt", doc(40, "Urgent"), priority=50)
        check(wait_state(c, hi, FINAL)["state"] == "done", "priority job done")
        after = c.call("job.status", job=a)["done"] + c.call("job.status", job=b)["done"]
        check(after < 300 and after - before <= 16,
              "the priority-50 job waited for %d segments of priority-0 jobs"
              % (after - before))
        print("priority 50 job of 40 segments: %d segments of the others meanwhile"
              % (after - before))
        for j in (a, b):
            check(wait_state(c, j, FINAL)["state"] == "done", "job %s done" % j)
        print("most job segments finished while a request waited: %d" % worst)
        c.close()
        d.stop()
    finally:
        d.cleanup()


# ---- fields ---------------------------------------------------------------------------

def expect_error(c, code, method, **params):
    try:
        c.call(method, **params)
    except RPCError as e:
        check(e.code == code, "%s: expected %s, got %s" % (method, code, e))
        return e.message
    raise AssertionError("%s %r: no error" % (method, params))


def scenario_fields():
    d = Daemon(SETTINGS)
    try:
        c = Client(d.sock)
        now = time.time()
        src = os.path.join(d.dir, "notes.md")
        md = (b"# Title\n\nSome text to translate.\n\n```\ncode stays();\n```\n\n"
              b"A [link](http://example.com/x) and `inline code`.\n")
        with open(src, "wb") as f:
            f.write(md)
        msgid = c.send("job.submit", paths=[src], to="de", subscribe=True, priority=5)
        job = c.wait(msgid)["job"]
        check(re.fullmatch(r"[A-Za-z0-9_-]{16,64}", job), "job id %r" % job)
        with open(src, "wb") as f:
            f.write(b"changed after submission\n")  # must not matter
        st = wait_state(c, job, FINAL)
        for k, t in (("job", str), ("state", str), ("to", str), ("files", int), ("done", int),
                     ("total", int), ("percent", float), ("created", int)):
            check(isinstance(st.get(k), t), "job.status %s: %r" % (k, st))
        check(st["state"] == "done" and st["to"] == "de" and st["files"] == 1, repr(st))
        check(st["done"] == st["total"] > 0 and st["percent"] == 100.0, repr(st))
        check(abs(st["created"] - now) < 60, "created %r" % st["created"])
        res = c.call("job.result", job=job)
        out = res["outputs"][0]
        check(out["name"] == "notes.md" and isinstance(out["content"], bytes), repr(out))
        check(b"```\ncode stays();\n```" in out["content"], "code block kept: %r" % out)
        check(b"(http://example.com/x)" in out["content"] and b"`inline code`" in out["content"],
              "link target and inline code kept: %r" % out["content"])
        rep = res["report"]
        check(rep["segments"] == st["total"], "report %r" % rep)
        # The tiny model drops placeholders: those sentences are retried,
        # then kept as they were and listed in the report.
        check(rep["flagged"] == len(rep["messages"]) and
              all("notes.md: segment" in m for m in rep["messages"]), "report %r" % rep)
        print("report:", rep)
        notes = [n for m, n in c.notes if m == "job.progress" and n["job"] == job]
        check(notes and notes[-1]["state"] == "done", "progress notes: %r" % notes)
        dones = [n["done"] for n in notes]
        check(dones == sorted(dones), "progress never goes back: %r" % dones)

        # An empty document is done at once, and stays empty.
        empty = submit(c, "empty.txt", b"")
        st_e = wait_state(c, empty, FINAL)
        check(st_e["state"] == "done" and st_e["total"] == 0, "empty: %r" % st_e)
        check(c.call("job.result", job=empty)["outputs"][0]["content"] == b"", "empty output")

        lst = c.call("job.list")["jobs"]
        check([j["job"] for j in lst] == [job, empty], "job.list %r" % lst)
        check(all(j["state"] == "done" for j in lst), "job.list states %r" % lst)

        # Errors.
        expect_error(c, "not_found", "job.status", job="nosuchjob")
        expect_error(c, "not_found", "job.result", job="nosuchjob")
        expect_error(c, "not_found", "job.cancel", job="nosuchjob")
        expect_error(c, "unsupported_language", "job.submit",
                     files=[{"name": "a.txt", "content": b"x"}], to="xx")
        m = expect_error(c, "bad_request", "job.submit", paths=[d.dir], to="de")
        check("not a regular file" in m, m)
        m = expect_error(c, "bad_request", "job.submit", paths=[d.dir + "/missing.txt"],
                         to="de")
        check("ENOENT" in m, m)
        m = expect_error(c, "bad_request", "job.submit", to="de",
                         files=[{"name": "a.txt", "content": b"x"},
                                {"name": "a.txt", "content": b"y"}])
        check("two files are named a.txt" in m, m)
        m = expect_error(c, "bad_request", "job.submit", to="de", output=d.dir + "/nope",
                         files=[{"name": "a.txt", "content": b"x"}])
        check("output" in m, m)
        m = expect_error(c, "bad_request", "job.submit", to="de",
                         files=[{"name": "a.po", "content": b'msgid "open\n'}])
        check("line" in m, "a bad PO file names the line: %s" % m)
        check(len(c.call("job.list")["jobs"]) == 2, "refused jobs leave nothing")
        check(sorted(os.listdir(d.jobs_dir())) == sorted([job, empty]),
              "jobs folder: %r" % os.listdir(d.jobs_dir()))
        mode = stat.S_IMODE(os.stat(os.path.join(d.jobs_dir(), job)).st_mode)
        check(mode == 0o700, "job folder mode %o" % mode)
        mode = stat.S_IMODE(os.stat(os.path.join(d.jobs_dir(), job, "manifest")).st_mode)
        check(mode == 0o600, "manifest mode %o" % mode)
        check(c.call("status").get("jobs", 0) == 0, "status.jobs")
        c.close()

        # A finished job is still there after a restart, with its counts.
        d.stop()
        d.start()
        c = Client(d.sock)
        st2 = c.call("job.status", job=job)
        check(st2["state"] == "done" and st2["done"] == st["total"] == st2["total"],
              "after restart: %r" % st2)
        res2 = c.call("job.result", job=job)
        check(res2["outputs"][0]["content"] == out["content"], "same output after restart")
        c.close()
        d.stop()
    finally:
        d.cleanup()


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = globals().get("scenario_" + name)
    if fn is None:
        raise AssertionError("usage: test-jobs.py crash|readonly|full|cancel|interactive|fields")
    fn()


if __name__ == "__main__":
    run(main)
