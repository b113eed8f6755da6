#!/usr/bin/python3
"""test_client_jobs_daemon.py POLYTRANS POLYTRANSD: batch jobs end to end.

The real client starts the real daemon with the tiny fixture model (random
weights: the translations are nonsense, but every step runs) and submits
documents as jobs. Checked: the outputs are written where polytrans(1)
says, keep their structure (Markdown code blocks, inline code and link
targets, SubRip numbers and timings byte for byte), `jobs` and `job
status` agree with them, `job result -o` gives the same bytes, Ctrl-C
detaches without cancelling and `job wait` finishes the job, and `job
cancel` stops one. Env FIXTURES names the folder of tiny-f32.gguf.
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

CLIENT = os.path.abspath(sys.argv[1])
DAEMON = os.path.abspath(sys.argv[2])
FAILS = []

MD = """---
title: Notes
---
# Getting started

Install the package first. Then run the tool once.

```sh
make install   # keep this line
echo "%s {name}"
```

Use `polytrans --to de` to translate, see [the manual](https://example.org/man.html).

- First item of the list.
- Second item, with *emphasis*.
"""

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there.

2
00:00:03,000 --> 00:00:04,200
How are you today?
Fine, thanks.

3
00:01:05,010 --> 00:01:07,999
Good bye.
"""


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def sanitizer_check(log):
    """In a sanitizer build: what it found in the daemons the client
    started (their stderr goes to polytransd.log), leaks at exit included."""
    try:
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return
    for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                 "Sanitizer:DEADLYSIGNAL"):
        if mark in text:
            i = text.find(mark)
            check(False, "sanitizer report from polytransd:\n" + text[max(0, i - 200):i + 6000])
            return


def daemon_pids(sock):
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if sock.encode() in argv and os.path.basename(argv[0]) == b"polytransd":
            pids.append(int(d))
    return pids


def srt_skeleton(text):
    """Numbers and timings, in order: what a translation must not touch."""
    return [x for x in text.split("\n") if re.fullmatch(r"\d+|\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}", x)]


def md_kept(out):
    """The parts of MD that are not text, found unchanged in out."""
    fence = MD[MD.index("```sh"):MD.index("```\n", MD.index("```sh") + 3) + 4]
    parts = {"front matter": "---\ntitle: Notes\n---\n", "code block": fence,
             "inline code": "`polytrans --to de`", "link target": "(https://example.org/man.html)"}
    return [k for k, v in parts.items() if v not in out]


def main():
    model = os.path.join(os.environ.get("FIXTURES", ""), "tiny-f32.gguf")
    if not os.path.exists(model):
        print("SKIP: no fixture model at %s (set FIXTURES)" % model)
        return 77
    with tempfile.TemporaryDirectory(prefix="pt-client-jobs-") as tmp:
        run_dir = os.path.join(tmp, "run")
        os.mkdir(run_dir, 0o700)
        sock = os.path.join(run_dir, "polytrans.sock")
        env = dict(os.environ, XDG_RUNTIME_DIR=run_dir, XDG_STATE_HOME=os.path.join(tmp, "state"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"), XDG_DATA_HOME=os.path.join(tmp, "data"),
                   POLYTRANS_MODEL=model, POLYTRANSD=DAEMON, LC_ALL="C.UTF-8")

        def run(*args, timeout=300):
            r = subprocess.run([CLIENT] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout, env=env, cwd=tmp)
            return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

        run.env, run.tmp = env, tmp
        try:
            st = body(run)
            if st:
                return st
        finally:
            for pid in daemon_pids(sock):
                os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not daemon_pids(sock):
                    break
                time.sleep(0.1)
            sanitizer_check(os.path.join(tmp, "state", "polytrans", "polytransd.log"))
    if FAILS:
        print("%d checks failed" % len(FAILS))
        return 1
    print("all checks passed")
    return 0


def write(run, name, text):
    with open(os.path.join(run.tmp, name), "w") as f:
        f.write(text)


def read(run, name):
    with open(os.path.join(run.tmp, name)) as f:
        return f.read()


def body(run):
    write(run, "notes.md", MD)
    write(run, "film.srt", SRT)
    rc, out, err = run("--to", "de", "--job", "notes.md", "film.srt", "-o", "de")
    if rc == 1 and "not available" in err:
        print("SKIP: this polytransd has no batch jobs: %s" % err.strip())
        return 77
    check(rc == 0, "job: exit %d %r" % (rc, err))
    m = re.match(r"job ([A-Za-z0-9_-]+)\n", out)
    jid = m.group(1) if m else None
    check(jid and out.splitlines()[1:] == ["output de/notes.md", "output de/film.srt"],
          "stdout: %r" % out)
    check(re.search(r"100% \(\d+/\d+ segments\), done", err), "progress lines: %r" % err)
    if rc != 0:
        log = os.path.join(run.tmp, "state", "polytrans", "polytransd.log")
        if os.path.exists(log):
            print(open(log).read()[-3000:])
        return 1
    md, srt = read(run, "de/notes.md"), read(run, "de/film.srt")
    check(md != MD and srt != SRT, "the documents were translated")
    check(md_kept(md) == [], "markdown lost: %r\n%s" % (md_kept(md), md))
    check(md.startswith("---\ntitle: Notes\n---\n# "), "heading marker kept: %r" % md[:60])
    check(srt_skeleton(srt) == srt_skeleton(SRT), "srt numbers and timings: %r" % srt)
    check(srt.count("\n\n") == SRT.count("\n\n"), "srt blocks kept: %r" % srt)

    # The list and the status agree with the finished job.
    rc, out, err = run("jobs", "--json")
    jobs = json.loads(out)["jobs"] if rc == 0 else []
    mine = [j for j in jobs if j["job"] == jid]
    check(mine and mine[0]["state"] == "done" and mine[0]["files"] == 2 and mine[0]["to"] == "de"
          and mine[0]["done"] == mine[0]["total"] > 0, "jobs --json: %r" % out)
    rc, out, err = run("job", "status", jid)
    check(rc == 0 and re.search(r"state +done", out) and "100%" in out, "job status: %r" % out)
    # The outputs kept in the job are the bytes written.
    rc, out, err = run("job", "result", jid, "-o", "again")
    check(rc == 0 and read(run, "again/notes.md") == md and read(run, "again/film.srt") == srt,
          "job result -o: %d %r" % (rc, err))

    # Ctrl-C detaches; the job goes on and `job wait` finishes it.
    long = "".join("Sentence number %d is here. " % i + ("\n\n" if i % 3 == 2 else "") for i in range(24))
    write(run, "long.txt", long)
    p = subprocess.Popen([CLIENT, "--to", "fr", "--job", "long.txt", "-o", "fr"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=run.env, cwd=run.tmp)
    first = p.stdout.readline().decode()
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    err = err.decode()
    m = re.match(r"job ([A-Za-z0-9_-]+)\n", first)
    lid = m.group(1) if m else ""
    check(p.returncode == 130 and "polytrans job wait %s -o %s" % (lid, os.path.join(run.tmp, "fr")) in err,
          "detach: %d %r" % (p.returncode, err))
    rc, out, err = run("job", "status", lid, "--json")
    state = json.loads(out)["state"] if rc == 0 else None
    check(state in ("queued", "running", "done"), "detached job not cancelled: %r" % out)
    rc, out, err = run("job", "wait", lid, "-o", "fr")
    check(rc == 0 and out == "output fr/long.txt\n" and os.path.getsize(os.path.join(run.tmp, "fr", "long.txt")) > 0,
          "job wait: %d %r %r" % (rc, out, err))

    # The daemon killed under a waiting client: the client starts another,
    # which resumes the job from its journal; the output is the same as
    # that of the uninterrupted run above.
    rc, out, err = run("--to", "fr", "--job", "long.txt", "--detach", "-q")
    m = re.match(r"job ([A-Za-z0-9_-]+)\n", out)
    kid = m.group(1) if m else ""
    p = subprocess.Popen([CLIENT, "job", "wait", kid, "-o", "fr2"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=run.env, cwd=run.tmp)
    sock = os.path.join(run.env["XDG_RUNTIME_DIR"], "polytrans.sock")
    killed = False
    for _ in range(600):
        rc, out, err = run("job", "status", kid, "--json")
        js = json.loads(out) if rc == 0 else {}
        if js.get("state") in ("done", "failed", "cancelled"):
            break
        if js.get("done", 0) > 0:
            for pid in daemon_pids(sock):
                os.kill(pid, signal.SIGKILL)
                killed = True
            break
        time.sleep(0.05)
    out, err = p.communicate(timeout=300)
    out, err = out.decode(), err.decode()
    check(p.returncode == 0 and out == "output fr2/long.txt\n", "wait across a kill: %d %r %r" % (p.returncode, out, err))
    if killed:
        check("connecting again" in err, "reconnect said: %r" % err)
        check(read(run, "fr2/long.txt") == read(run, "fr/long.txt"),
              "resumed output equals the uninterrupted one")
    else:
        print("note: the job ended before the daemon could be killed")

    # Cancel one.
    rc, out, err = run("--to", "es", "--job", "long.txt", "--detach")
    m = re.match(r"job ([A-Za-z0-9_-]+)\n", out)
    cid = m.group(1) if m else ""
    rc, out, err = run("job", "cancel", cid)
    if rc == 1 and "already ended (done)" in err:
        print("note: the job finished before it could be cancelled")
    else:
        check(rc == 0, "job cancel: %d %r" % (rc, err))
        rc, out, err = run("job", "status", cid, "--json")
        check(rc == 0 and json.loads(out)["state"] == "cancelled", "cancelled: %r" % out)
        rc, out, err = run("job", "wait", cid)
        check(rc == 1 and "cancelled" in err, "wait on cancelled: %d %r" % (rc, err))
    rc, out, err = run("job", "status", "NoSuchJob")
    check(rc == 1 and "not_found" in err, "unknown job: %d %r" % (rc, err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
