#!/usr/bin/python3
"""test_client_daemon.py POLYTRANS POLYTRANSD: the client with the real daemon.

Env FIXTURES names the folder of tiny-f32.gguf, a model with random
weights: its translations are nonsense, but every step of the path runs.
The client starts the daemon itself (in a temporary XDG_RUNTIME_DIR), and
the next calls reuse it. Language detection is real, so its codes are
checked exactly.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

CLIENT = os.path.abspath(sys.argv[1])
DAEMON = os.path.abspath(sys.argv[2])
FAILS = []

CODES = "zh en es de fr pt ru it ar ja ko th vi id pl tr nl he".split()

SAMPLES = {
    "de": "Der Hund läuft jeden Morgen schnell über die Straße und bellt laut.",
    "fr": "Le chat dort toute la journée sur le canapé pendant que nous travaillons.",
    "es": "Mañana por la mañana vamos a visitar a nuestros abuelos en el pueblo.",
    "ru": "Сегодня утром я прочитал интересную статью о истории нашего города.",
    "ja": "私は毎朝コーヒーを飲みながら新聞を読みます。",
    "zh": "我们明天早上一起去公园散步，然后去吃早饭。",
    "ar": "ذهبت إلى السوق صباح اليوم لشراء الخبز والفاكهة.",
    "ko": "오늘 아침에 친구와 함께 도서관에 가서 책을 읽었습니다.",
    "pl": "Wczoraj wieczorem poszliśmy z przyjaciółmi do kina na nowy film.",
}


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
    """Processes of ours whose command line names this socket."""
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


def main():
    model = os.path.join(os.environ.get("FIXTURES", ""), "tiny-f32.gguf")
    if not os.path.exists(model):
        print("SKIP: no fixture model at %s (set FIXTURES)" % model)
        return 77
    with tempfile.TemporaryDirectory(prefix="pt-client-int-") as tmp:
        run_dir = os.path.join(tmp, "run")
        os.mkdir(run_dir, 0o700)
        sock = os.path.join(run_dir, "polytrans.sock")
        env = dict(os.environ, XDG_RUNTIME_DIR=run_dir, XDG_STATE_HOME=os.path.join(tmp, "state"),
                   XDG_CONFIG_HOME=os.path.join(tmp, "config"), XDG_DATA_HOME=os.path.join(tmp, "data"),
                   POLYTRANS_MODEL=model, POLYTRANSD=DAEMON, LC_ALL="C.UTF-8")

        def run(*args, stdin=b"", timeout=120):
            r = subprocess.run([CLIENT] + list(args), input=stdin, capture_output=True,
                               timeout=timeout, env=env, cwd=tmp)
            return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

        run.env = env
        try:
            body(tmp, sock, run)
            no_model(tmp, env)
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


def body(tmp, sock, run):
    rc, out, err = run("--status", "--no-start")
    check(rc == 3, "--no-start with no daemon: %d" % rc)

    # The first call starts the daemon; the next ones reuse it.
    rc, out, err = run("--status", "--json")
    check(rc == 0, "auto start: %d %r" % (rc, err))
    if rc != 0:
        log = os.path.join(tmp, "state", "polytrans", "polytransd.log")
        if os.path.exists(log):
            print(open(log).read()[-3000:])
        return
    st = json.loads(out)
    check(st["model"]["path"].endswith("tiny-f32.gguf"), "status model: %r" % st["model"])
    pids = daemon_pids(sock)
    check(len(pids) == 1, "one daemon: %r" % pids)
    ino = os.stat(sock).st_ino
    rc, out, err = run("--status", "--json")
    st2 = json.loads(out) if rc == 0 else {}
    check(rc == 0 and os.stat(sock).st_ino == ino and daemon_pids(sock) == pids and
          st2["uptime_s"] >= st["uptime_s"], "daemon reused")
    rc, out, err = run("--status")
    check(rc == 0 and "tiny" in out and "uptime:" in out, "--status: %r" % out)

    rc, out, err = run("--languages")
    codes = [line.split()[0] for line in out.splitlines()]
    check(rc == 0 and codes == CODES, "--languages: %r" % codes)
    rc, out, err = run("--languages", "--json")
    check(rc == 0 and len(json.loads(out)) == 18, "--languages --json")

    # Translation: nonsense words, but the shape of the text is kept.
    text = "Guten Morgen.\n\nWie geht es dir heute?\n"
    rc, out, err = run("--to", "en", "--from", "de", "--max-tokens", "8", stdin=text.encode())
    check(rc == 0 and out.endswith("\n") and "\n\n" in out, "stdin: %d %r %r" % (rc, out, err))
    files = []
    for lang in ("de", "fr", "es"):
        p = os.path.join(tmp, "%s.txt" % lang)
        with open(p, "w") as f:
            f.write(SAMPLES[lang] + "\n")
        files.append(p)
    singles = []
    for p in files:
        rc, out, err = run("--to", "it", "--max-tokens", "8", p)
        check(rc == 0 and out.endswith("\n"), "file %s: %d %r" % (p, rc, err))
        singles.append(out)
    rc, out, err = run("--to", "it", "--max-tokens", "8", *files)
    check(rc == 0 and out == "".join(singles), "several files in order: %r vs %r" % (out, singles))
    rc, out, err = run("--to", "Italian", "--max-tokens", "8", "--json", files[0])
    js = json.loads(out) if rc == 0 else {}
    check(rc == 0 and js.get("to") == "it" and js.get("from") == "de" and
          js.get("text") == singles[0] and isinstance(js.get("warnings"), list),
          "--json: %r" % out)

    dst = os.path.join(tmp, "out.txt")
    rc, out, err = run("--to", "it", "--max-tokens", "8", "-o", dst, *files)
    check(rc == 0 and out == "" and open(dst).read() == "".join(singles), "-o")
    bad = os.path.join(tmp, "bad.txt")
    with open(bad, "wb") as f:
        f.write("Grüße\n".encode() + b"\xe2\x28\xa1\n")
    dst2 = os.path.join(tmp, "out2.txt")
    rc, out, err = run("--to", "it", "--max-tokens", "8", "-o", dst2, files[0], bad)
    check(rc == 1 and "invalid UTF-8 at byte 8" in err, "invalid UTF-8: %d %r" % (rc, err))
    check(not os.path.exists(dst2) and not [f for f in os.listdir(tmp) if f.startswith("out2")],
          "-o written after a failure")
    rc, out, err = run("--to", "xx", files[0])
    check(rc == 2 and " ".join(CODES) in err, "unknown language: %d %r" % (rc, err))

    # Detection is real: the codes must be right.
    for lang, s in SAMPLES.items():
        rc, out, err = run("--detect", stdin=s.encode())
        check(rc == 0 and out == lang + "\n", "detect %s: %r %r" % (lang, out, err))
    lines = "\n".join(SAMPLES.values()) + "\n\n12345\n"
    rc, out, err = run("--detect", "--lines", "--verbose", stdin=lines.encode())
    got = [x.split() for x in out.splitlines()]
    want = list(SAMPLES) + ["und", "und"]
    check(rc == 0 and [g[0] for g in got] == want, "--lines: %r" % out)
    check(rc == 0 and all(0.0 <= float(g[1]) <= 1.0 for g in got), "--verbose confidences")
    # Ctrl-C in the middle: cancelled in the daemon, no output file, 130.
    big = os.path.join(tmp, "big.txt")
    with open(big, "w") as f:
        for i in range(300):
            f.write("Das ist der Satz Nummer %d in diesem langen Text.\n" % i)
    dst3 = os.path.join(tmp, "int.txt")
    p = subprocess.Popen([CLIENT, "--to", "en", "--from", "de", "-o", dst3, big],
                         stderr=subprocess.PIPE, env=run.env)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    t0 = time.time()
    rc = p.wait(30)
    check(rc == 130 and time.time() - t0 < 5, "SIGINT: exit %d after %.1f s" % (rc, time.time() - t0))
    check(not [f for f in os.listdir(tmp) if f.startswith("int.txt")], "SIGINT left an output")
    for _ in range(50):
        rc, out, err = run("--status", "--json")
        if rc == 0 and json.loads(out)["in_flight"] == 0:
            break
        time.sleep(0.1)
    check(rc == 0 and json.loads(out)["in_flight"] == 0, "engine freed after SIGINT: %r" % out)
    log = os.path.join(tmp, "state", "polytrans", "polytransd.log")
    check("cancel" in open(log).read(), "no cancel in the daemon log")

    rc, out, err = run("--detect", "--json", stdin=SAMPLES["ru"].encode())
    js = json.loads(out) if rc == 0 else {}
    check(js.get("language") == "ru" and js["candidates"][0]["language"] == "ru", "--detect --json")


def no_model(tmp, env):
    """A daemon started without a model says how to get one."""
    run_dir = os.path.join(tmp, "run2")
    os.mkdir(run_dir, 0o700)
    env = dict(env, XDG_RUNTIME_DIR=run_dir, XDG_DATA_HOME=os.path.join(tmp, "empty"))
    env.pop("POLYTRANS_MODEL")
    r = subprocess.run([CLIENT, "--to", "de"], input=b"Hello", capture_output=True, env=env,
                       timeout=60)
    err = r.stderr.decode()
    if r.returncode == 0:
        print("note: a bundled model is installed; the no-model case is not checked")
        for pid in daemon_pids(os.path.join(run_dir, "polytrans.sock")):
            os.kill(pid, signal.SIGTERM)
        return
    check(r.returncode == 3 and "polylm-convert" in err and "polytransd.log" in err,
          "no model: %d %r" % (r.returncode, err))


if __name__ == "__main__":
    sys.exit(main())
