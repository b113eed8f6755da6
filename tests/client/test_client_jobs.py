#!/usr/bin/python3
"""test_client_jobs.py POLYTRANS MOCK_DAEMON: batch-job commands against the mock.

The mock (mock-daemon.py) runs jobs on a clock: one segment per piece,
job.progress to subscribers, outputs that are its canned translation. So
the client's side is pinned exactly: what job.submit carries, where outputs
are written and with what bytes, the progress bar on a terminal and the
plain lines elsewhere, Ctrl-C detaching without cancelling, reattaching,
listing, cancelling, failed jobs and their errors, and exit statuses.
Suite 'unit': no model.
"""

import json
import os
import pty
import re
import signal
import subprocess
import sys
import tempfile
import time

CLIENT = os.path.abspath(sys.argv[1])
MOCK = os.path.abspath(sys.argv[2])
FAILS = []
ID_RE = r"[A-Za-z0-9_-]{1,64}"


def check(cond, what):
    if not cond:
        FAILS.append(what)
        print("FAIL:", what, flush=True)


def expected(text, to):
    """The mock's translation of a document."""
    out = []
    for m in re.finditer(r"[^\n]+\n*|\n+", text):
        p = m.group(0)
        body = p.rstrip("\n")
        out.append("<%s>%s%s" % (to.upper(), body.upper(), p[len(body):]) if body else p)
    return "".join(out)


class Env:
    def __init__(self, tmp):
        self.tmp = tmp
        self.sock = os.path.join(tmp, "run", "polytrans.sock")
        self.log = os.path.join(tmp, "mock.log")
        os.makedirs(os.path.join(tmp, "run"), mode=0o700, exist_ok=True)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(tmp, "run"), MOCK_LOG=self.log,
                        LC_ALL="C.UTF-8", POLYTRANSD=os.path.join(tmp, "no-daemon-here"))
        self.env.pop("POLYTRANS_MODEL", None)
        self.daemon = None

    def run(self, *args, timeout=30, cwd=None):
        r = subprocess.run([CLIENT] + list(args), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, env=self.env, cwd=cwd or self.tmp)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def start(self, **extra):
        self.stop()
        self.daemon = subprocess.Popen([MOCK, "--socket", self.sock], env=dict(self.env, **extra))
        for _ in range(100):
            if os.path.exists(self.sock):
                return
            time.sleep(0.05)
        raise SystemExit("mock daemon did not start")

    def stop(self):
        if self.daemon:
            self.daemon.terminate()
            self.daemon.wait(10)
            self.daemon = None

    def entries(self, method=None):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            es = [json.loads(x) for x in f]
        return [x for x in es if method is None or x.get("method") == method]

    def clear_log(self):
        if os.path.exists(self.log):
            os.unlink(self.log)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w" if isinstance(text, str) else "wb") as f:
            f.write(text)
        return path

    def read(self, name):
        with open(os.path.join(self.tmp, name)) as f:
            return f.read()

    def job_id(self, out):
        m = re.match(r"job (%s)\n" % ID_RE, out)
        return m.group(1) if m else None


def read_pty(master):
    data = b""
    while True:
        try:
            d = os.read(master, 65536)
        except OSError:
            break
        if not d:
            break
        data += d
    return data.decode("utf-8", "replace")


def on_pty(e, args, until=None, timeout=30, extra_env=None):
    """Runs the client with stderr on a terminal; until(p) may act (SIGINT)."""
    master, slave = pty.openpty()
    p = subprocess.Popen([CLIENT] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=slave, env=dict(e.env, **(extra_env or {})), cwd=e.tmp)
    os.close(slave)
    if until:
        until(p)
    out, _ = p.communicate(timeout=timeout)
    err = read_pty(master)
    os.close(master)
    return p.returncode, out.decode(), err


MD = "# Title\n\nSome *text* here.\n\n```\ncode stays\n```\n"
SRT = "1\n00:00:01,000 --> 00:00:02,500\nHello there\n\n2\n00:00:03,000 --> 00:00:04,000\nBye\n"


def usage_errors(e):
    e.write("u.md", "x\n")
    cases = [(("--to", "de", "--job"), "needs the files"),
             (("--to", "de", "--job", "--format", "docx", "u.md"), "docx"),
             (("--to", "de", "--job", "--priority", "101", "u.md"), "--priority"),
             (("--to", "de", "--detach", "u.md"), "go with --job"),
             (("--to", "de", "--format", "md", "u.md"), "go with --job"),
             (("--to", "de", "--job", "--beams", "2", "u.md"), "--beams"),
             (("--detect", "--job", "u.md"), "--job"),
             (("--to", "de", "--job", "u.md", "-o", "-"), "names a folder"),
             (("job",), "job status|wait"), (("job", "frob", "abcdefgh"), "frob"),
             (("job", "status"), "say which job"), (("job", "status", "bad id!"), "not a job id"),
             (("job", "status", "abc", "def"), "unexpected argument"),
             (("job", "cancel", "abc", "-o", "x"), "-o goes with"),
             (("jobs", "-o", "x"), "-o goes with"), (("jobs", "--bogus"), "--bogus"),
             (("job", "wait", "abc", "-o", "-"), "takes a folder"),
             (("jobs", "--timeout", "0"), "--timeout")]
    for args, needle in cases:
        rc, out, err = e.run(*args)
        check(rc == 2, "usage %s: exit %d, want 2 (%s)" % (args, rc, err))
        check(needle in err, "usage %s: %r not in %r" % (args, needle, err))
        check(out == "", "usage %s: stdout %r" % (args, out))
    rc, out, err = e.run("job", "--help")
    check(rc == 0 and "job wait ID" in out and "jobs" in out, "job --help: %r" % out)
    rc, out, err = e.run("--help")
    check(rc == 0 and "--job" in out and "--format FMT" in out and "--detach" in out, "--help names --job")


def refused_before_submit(e):
    """What the client can see for itself never reaches the daemon."""
    e.clear_log()
    e.write("x/same.md", "a\n")
    e.write("y/same.md", "b\n")
    rc, out, err = e.run("--to", "de", "--job", "x/same.md", "y/same.md")
    check(rc == 2 and "same name" in err, "same names: %d %r" % (rc, err))
    e.write("keep.md", "original\n")
    rc, out, err = e.run("--to", "de", "--job", "keep.md", "-o", ".")
    check(rc == 2 and "would replace the input" in err, "-o . over input: %d %r" % (rc, err))
    check(e.read("keep.md") == "original\n", "input untouched")
    e.write("keep.de.md", "also an input\n")
    rc, out, err = e.run("--to", "de", "--job", "keep.md", "keep.de.md")
    check(rc == 2 and "keep.de.md" in err, "NAME.LANG.EXT over input: %d %r" % (rc, err))
    rc, out, err = e.run("--to", "de", "--job", "x")
    check(rc == 2 and "is a folder" in err, "folder: %d %r" % (rc, err))
    rc, out, err = e.run("--to", "de", "--job", "missing.md")
    check(rc == 1 and "missing.md" in err, "missing: %d %r" % (rc, err))
    e.write("bad.txt", b"ok\n\xff\xfe\n")
    rc, out, err = e.run("--to", "de", "--job", "bad.txt")
    check(rc == 1 and "invalid UTF-8 at byte 3" in err, "UTF-8: %d %r" % (rc, err))
    e.write("notdir", "x")
    rc, out, err = e.run("--to", "de", "--job", "keep.md", "-o", "notdir")
    check(rc == 2 and "not a folder" in err, "-o file: %d %r" % (rc, err))
    check(e.entries("job.submit") == [], "nothing submitted: %r" % e.entries("job.submit"))


def submit_and_outputs(e):
    e.clear_log()
    e.write("doc.md", MD)
    e.write("sub/film.srt", SRT)
    e.write("msgs.pot", 'msgid "Hi"\nmsgstr ""\n')
    rc, out, err = e.run("--to", "German", "--job", "doc.md", "sub/film.srt", "msgs.pot")
    check(rc == 0, "submit: exit %d %r" % (rc, err))
    jid = e.job_id(out)
    check(jid is not None, "job id printed first: %r" % out)
    check(out.splitlines()[1:] == ["output doc.de.md", "output film.de.srt", "output msgs.de.po"],
          "outputs listed: %r" % out)
    check(e.read("doc.de.md") == expected(MD, "de"), "doc.de.md content")
    check(e.read("film.de.srt") == expected(SRT, "de"), "film.de.srt content")
    check(os.path.exists(os.path.join(e.tmp, "msgs.de.po")), ".pot gives NAME.LANG.po")
    sub = e.entries("job.submit")
    check(len(sub) == 1 and sub[0]["names"] == ["doc.md", "film.srt", "msgs.pot"] and sub[0]["inline"]
          and sub[0]["sizes"] == [len(MD), len(SRT), 21] and sub[0]["to"] == "de"
          and sub[0]["format"] == "auto" and sub[0]["output"] is None,
          "job.submit carries contents and names, no output folder: %r" % sub)
    check(not any(x.get("method") == "job.cancel" for x in e.entries()), "no cancel")
    # Plain progress lines when stderr is not a terminal.
    check(re.search(r"job %s: 100%% \(\d+/\d+ segments\), done" % re.escape(jid), err),
          "plain final line: %r" % err)
    check("\r" not in err and "\033" not in err, "no terminal codes in a log: %r" % err)
    # -o DIR (created), --format, --priority, --from; names kept.
    e.clear_log()
    rc, out, err = e.run("--to", "fr", "--from", "de", "--job", "doc.md", "-o", "out",
                         "--format", "text", "--priority", "-7", "-q")
    check(rc == 0 and out.splitlines()[1:] == ["output out/doc.md"] and err == "",
          "-o DIR: %d %r %r" % (rc, out, err))
    check(e.read("out/doc.md") == expected(MD, "fr"), "out/doc.md content")
    sub = e.entries("job.submit")[-1]
    check(sub["format"] == "text" and sub["priority"] == -7 and sub["from"] == "de",
          "format/priority/from sent: %r" % sub)
    check([f for f in os.listdir(os.path.join(e.tmp, "out")) if f != "doc.md"] == [],
          "no temporary files left in out/")
    # --json: one object at the end.
    rc, out, err = e.run("--to", "de", "--job", "doc.md", "-o", "out2", "--json", "-q")
    js = json.loads(out) if rc == 0 else {}
    check(js.get("state") == "done" and js["outputs"][0]["path"] == "out2/doc.md"
          and js["report"]["flagged"] == 0, "--json result: %r" % out)


def reports_and_failures(e):
    e.write("flag.md", "FLAGME one\ntwo\n")
    rc, out, err = e.run("--to", "de", "--job", "flag.md", "-o", "fl")
    check(rc == 0 and "segment 1 lost or changed a placeholder" in err and "1 flagged" in err,
          "report shown: %d %r" % (rc, err))
    e.write("fail.md", "".join("FAILJOB line %d\n" % i for i in range(8)))
    rc, out, err = e.run("--to", "de", "--job", "fail.md", "-o", "ff")
    check(rc == 1 and "failed" in err and "fail.md: mock: no space left on device" in err
          and "job wait" in err, "failed job: %d %r" % (rc, err))
    check(not os.path.exists(os.path.join(e.tmp, "ff", "fail.md")), "no output of a failed job")
    e.write("bad.md", "one\nBADDOC\n")
    rc, out, err = e.run("--to", "de", "--job", "bad.md")
    check(rc == 1 and "bad_request" in err and "doc.md: line 3" in err and out == "",
          "refused submission: %d %r" % (rc, err))
    e.start(MOCK_NOJOBS="1")
    rc, out, err = e.run("--to", "de", "--job", "flag.md")
    check(rc == 1 and "not available" in err, "daemon without jobs: %d %r" % (rc, err))
    rc, out, err = e.run("jobs")
    check(rc == 1 and "not available" in err, "jobs without jobs: %d %r" % (rc, err))
    e.start()


def progress_bar(e):
    """On a terminal: a bar redrawn in place with percent, segments and ETA."""
    e.write("bar.txt", "".join("Line %d.\n" % i for i in range(30)))
    rc, out, err = on_pty(e, ["--to", "de", "--job", "bar.txt", "-o", "bar"],
                          extra_env={})
    check(rc == 0, "bar run: %d %r" % (rc, err))
    frames = [f for f in err.split("\r") if f.startswith("[")]
    check(len(frames) >= 3, "several frames: %r" % err[:300])
    pat = re.compile(r"\[[#-]{10,40}\] +(\d+)% (\d+)/30 segments  (ETA \S+|running|queued|done)")
    parsed = [pat.match(f) for f in frames]
    check(all(parsed), "frame format: %r" % frames[:3])
    pcts = [int(m.group(1)) for m in parsed if m]
    check(pcts == sorted(pcts) and pcts and pcts[-1] == 100, "percent rises to 100: %r" % pcts)
    check(any(m and m.group(3).startswith("ETA ") and m.group(3) != "ETA ?" for m in parsed),
          "an ETA is shown: %r" % frames)
    check(any(m and m.group(3) == "done" for m in parsed), "final frame says done")
    widths = [len(f.split("\033")[0]) for f in frames]
    check(max(widths) < 80, "fits the terminal: %r" % widths)
    check(out.splitlines()[1:] == ["output bar/bar.txt"], "stdout: %r" % out)
    check(e.read("bar/bar.txt") == expected("".join("Line %d.\n" % i for i in range(30)), "de"),
          "bar output content")
    # -q: nothing on the terminal.
    rc, out, err = on_pty(e, ["--to", "de", "--job", "bar.txt", "-o", "bar", "-q"])
    check(rc == 0 and err == "", "-q: %r" % err)


def plain_rate(e):
    """Plain lines: one at each change of state, else at most one per 5 s."""
    e.write("rate.txt", "".join("Row %d.\n" % i for i in range(70)))
    t0 = time.time()
    rc, out, err = e.run("--to", "de", "--job", "rate.txt", "-o", "rate", timeout=60)
    took = time.time() - t0
    lines = err.splitlines()
    check(rc == 0 and all(re.match(r"job %s: \d+%% \(\d+/70 segments\), " % ID_RE, x) for x in lines),
          "plain lines: %r" % err)
    check(len(lines) <= 2 + int(took / 5) + 1, "at most one line per 5 s: %d lines in %.1fs" % (len(lines), took))
    check(lines and lines[-1].endswith("100% (70/70 segments), done"), "last plain line: %r" % lines[-1:])


def detach_and_reattach(e):
    e.clear_log()
    text = "SLOWJOB a\nb\nc\nd\ne\n"
    e.write("slow.md", text)
    e.write("lst/x", "")

    def interrupt(p):
        for _ in range(200):
            if any(x.get("subscribe") for x in e.entries("job.status")):
                break
            time.sleep(0.05)
        time.sleep(0.6)
        p.send_signal(signal.SIGINT)

    rc, out, err = on_pty(e, ["--to", "de", "--job", "slow.md", "-o", "sl"], until=interrupt)
    jid = e.job_id(out)
    check(rc == 130, "SIGINT detaches with 130: %d %r" % (rc, err))
    check(jid and "polytrans job wait %s -o %s" % (jid, os.path.join(e.tmp, "sl")) in err,
          "reattach hint: %r" % err)
    check(e.entries("job.cancel") == [], "Ctrl-C does not cancel the job")
    rc, out, err = e.run("job", "status", jid)
    check(rc == 0 and re.search(r"state +running", out) and "progress " in out and "ETA" in out,
          "still running after detach: %r" % out)
    ids = [j["job"] for j in json.loads(e.run("jobs", "--json")[1])["jobs"]]
    short = next(jid[:k] for k in range(1, 23) if sum(x.startswith(jid[:k]) for x in ids) == 1)
    rc, out, err = e.run("job", "status", short, "--json")
    check(rc == 0 and json.loads(out)["job"] == jid, "unique prefix %r: %d %r" % (short, rc, err))

    # The list shows it.
    rc, out, err = e.run("jobs")
    rows = out.splitlines()
    check(rc == 0 and rows and rows[0].split() == ["ID", "STATE", "PROGRESS", "TO", "FILES", "CREATED"],
          "jobs header: %r" % out)
    row = [r for r in rows if r.startswith(jid)]
    check(row and re.match(r"%s +running +\d+%% +\d+/5 +de +1 +\d{4}-\d\d-\d\d \d\d:\d\d$" % re.escape(jid), row[0]),
          "jobs row: %r" % row)
    rc, out, err = e.run("jobs", "--json")
    js = json.loads(out)["jobs"] if rc == 0 else []
    mine = [j for j in js if j["job"] == jid]
    check(mine and mine[0]["state"] == "running" and mine[0]["total"] == 5 and mine[0]["files"] == 1,
          "jobs --json: %r" % out)
    # Outputs are not there yet.
    rc, out, err = e.run("job", "result", jid)
    check(rc == 1 and "not ready" in err and "job wait %s" % jid in err, "result too early: %r" % err)
    # Reattach: follows to the end and writes where the first command would have.
    rc, out, err = e.run("job", "wait", jid, "-o", "sl", timeout=60)
    check(rc == 0 and out == "output sl/slow.md\n", "wait: %d %r %r" % (rc, out, err))
    check(e.read("sl/slow.md") == expected(text, "de"), "reattached output content")
    rc, out, err = e.run("job", "result", jid)
    check(rc == 0 and out == "kept slow.md (%d bytes; -o DIR writes it)\n" % len(expected(text, "de")),
          "result lists: %r" % out)
    rc, out, err = e.run("job", "result", jid, "-o", "-")
    check(rc == 0 and out == expected(text, "de"), "result -o -: %r" % out)
    rc, out, err = e.run("job", "result", jid, "-o", "again", "--json")
    js = json.loads(out) if rc == 0 else {}
    check(js.get("outputs") == [{"name": "slow.md", "path": "again/slow.md", "bytes": len(expected(text, "de"))}],
          "result -o --json: %r" % out)
    # wait without -o: NAME.LANG.EXT in the current folder.
    rc, out, err = e.run("job", "wait", jid, cwd=os.path.join(e.tmp, "lst"))
    check(rc == 0 and out == "output slow.de.md\n" and os.path.exists(os.path.join(e.tmp, "lst", "slow.de.md")),
          "wait without -o: %r %r" % (out, err))


def cancel_and_errors(e):
    e.write("c.md", "SLOWJOB a\nb\nc\nd\ne\nf\ng\nh\n")
    rc, out, err = e.run("--to", "de", "--job", "c.md", "--detach")
    jid = e.job_id(out)
    check(rc == 0 and jid and "job wait %s" % jid in err, "--detach: %d %r %r" % (rc, out, err))
    rc, out, err = e.run("job", "cancel", jid)
    check(rc == 0 and "cancelled" in err, "cancel: %d %r" % (rc, err))
    rc, out, err = e.run("job", "status", jid, "--json")
    check(rc == 0 and json.loads(out)["state"] == "cancelled", "status after cancel: %r" % out)
    rc, out, err = e.run("job", "cancel", jid)
    check(rc == 1 and "already ended (cancelled)" in err, "cancel twice: %d %r" % (rc, err))
    rc, out, err = e.run("job", "wait", jid)
    check(rc == 1 and "was cancelled" in err, "wait on cancelled: %d %r" % (rc, err))
    rc, out, err = e.run("job", "result", jid)
    check(rc == 1 and "cancelled" in err, "result of cancelled: %d %r" % (rc, err))
    for verb in ("status", "wait", "cancel", "result"):
        rc, out, err = e.run("job", verb, "NoSuchJob123")
        check(rc == 1 and "not_found" in err and "NoSuchJob123" in err, "%s unknown: %d %r" % (verb, rc, err))
    # --timeout while waiting: the job goes on, exit 1 and the hint.
    rc, out, err = e.run("--to", "de", "--job", "c.md", "--timeout", "1", "-o", "to")
    jid = e.job_id(out)
    check(rc == 1 and "timed out" in err and "job wait %s" % jid in err, "--timeout: %d %r" % (rc, err))
    check(jid and all(x["job"] != jid for x in e.entries("job.cancel")), "timeout does not cancel")


def dash_ids(e):
    """Ids may begin with '-': taken as ids, not options."""
    e.start(MOCK_DASH_ID="1")
    e.write("d.md", "one\n")
    rc, out, err = e.run("--to", "de", "--job", "d.md", "--detach", "-q")
    jid = e.job_id(out)
    check(rc == 0 and jid and jid.startswith("-"), "dash id: %r" % out)
    time.sleep(0.3)
    rc, out, err = e.run("job", "status", jid, "--json")
    check(rc == 0 and json.loads(out)["job"] == jid, "status -ID: %d %r" % (rc, err))
    rc, out, err = e.run("job", "result", "-o", "dd", jid)
    check(rc == 0 and out == "output dd/d.md\n", "result -o DIR -ID: %d %r %r" % (rc, out, err))
    rc, out, err = e.run("job", "status", "--", jid)
    check(rc == 0, "status -- -ID: %d %r" % (rc, err))
    e.run("--to", "de", "--job", "d.md", "--detach", "-q")
    rc, out, err = e.run("job", "status", "--", "-")
    check(rc == 1 and "the start of 2 jobs" in err, "ambiguous prefix: %d %r" % (rc, err))
    e.start()


def reconnects(e):
    """A daemon that goes away mid-job: the client connects again and goes on."""
    state = os.path.join(e.tmp, "mock-state.json")
    e.start(MOCK_STATE=state)
    text = "SLOWJOB a\nb\nc\nd\ne\nf\n"
    e.write("rc.md", text)
    for no_start in (False, True):
        rc, out, err = e.run("--to", "de", "--job", "rc.md", "--detach", "-q")
        jid = e.job_id(out)
        e.clear_log()
        args = ["job", "wait", jid, "-o", "rcout"] + (["--no-start"] if no_start else [])
        p = subprocess.Popen([CLIENT] + args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e.env, cwd=e.tmp)
        for _ in range(200):
            if any(x.get("subscribe") for x in e.entries("job.status")):
                break
            time.sleep(0.05)
        e.stop()
        if not no_start:
            time.sleep(1.0)
            e.start(MOCK_STATE=state)
        out, err = p.communicate(timeout=90)
        out, err = out.decode(), err.decode()
        if no_start:
            check(p.returncode == 3 and "connecting again" in err and "not running" in err,
                  "--no-start, daemon gone: %d %r" % (p.returncode, err))
        else:
            check(p.returncode == 0 and "connecting again" in err and out == "output rcout/rc.md\n",
                  "reconnected: %d %r %r" % (p.returncode, out, err))
            check(e.read("rcout/rc.md") == expected(text, "de"), "output after reconnecting")
            check(len(e.entries("job.status")) >= 2, "subscribed again")
    e.start()


def large_by_path(e):
    """Over 15 MiB together the files go as absolute paths."""
    e.clear_log()
    big = ("x" * ((1 << 20) - 1) + "\n") * 16
    e.write("big.txt", big)
    rc, out, err = e.run("--to", "de", "--job", "big.txt", "-o", "bg", "-q", timeout=120)
    sub = e.entries("job.submit")
    check(rc == 0 and sub and not sub[0]["inline"] and sub[0]["paths"] == [os.path.join(os.path.realpath(e.tmp), "big.txt")],
          "large job by path: %d %r %r" % (rc, err, sub[:1]))


def no_daemon(e):
    e.stop()
    e.write("n.md", "x\n")
    for args in (("--to", "de", "--job", "n.md"), ("jobs",), ("job", "status", "abcdef"),
                 ("job", "wait", "abcdef"), ("job", "result", "abcdef")):
        rc, out, err = e.run(*(args + ("--no-start",)))
        check(rc == 3 and "not running" in err, "%s without daemon: %d %r" % (args, rc, err))


def main():
    with tempfile.TemporaryDirectory(prefix="pt-client-jobs-") as tmp:
        e = Env(tmp)
        try:
            usage_errors(e)
            e.start()
            refused_before_submit(e)
            submit_and_outputs(e)
            reports_and_failures(e)
            progress_bar(e)
            plain_rate(e)
            detach_and_reattach(e)
            cancel_and_errors(e)
            dash_ids(e)
            reconnects(e)
            large_by_path(e)
            no_daemon(e)
        finally:
            e.stop()
    if FAILS:
        print("%d failures" % len(FAILS))
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
