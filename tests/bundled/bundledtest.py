"""Helpers of the tests/bundled scripts: results, and a polytransd that the
real client starts itself in private XDG folders, as on a first run."""
import json
import os
import re
import signal
import subprocess
import time

failures = []

# What the daemon logs once at start and the client says on a first run.
LOG_NOTICE = "this is polytrans's small bundled model"
CLIENT_NOTICE = 'started polytransd with the small bundled model'
SANITIZER_MARKS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                   'Sanitizer:DEADLYSIGNAL')


def check(ok, what):
    if not ok:
        failures.append(what)
        print('FAIL: ' + what, flush=True)
    return ok


def finish(name):
    if failures:
        print('%s: %d check(s) failed' % (name, len(failures)))
        return 1
    print('%s: all checks passed' % name)
    return 0


class FirstRun:
    """A client run in fresh XDG folders: the first call starts polytransd
    (POLYTRANSD, else the one the client finds), later calls reuse it."""

    def __init__(self, tmp, client, daemon=None):
        self.client = client
        self.run_dir = os.path.join(tmp, 'run')
        os.makedirs(self.run_dir, 0o700, exist_ok=True)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=self.run_dir,
                        XDG_CONFIG_HOME=os.path.join(tmp, 'cfg'),
                        XDG_DATA_HOME=os.path.join(tmp, 'data'),
                        XDG_STATE_HOME=os.path.join(tmp, 'state'), LC_ALL='C.UTF-8')
        for k in ('POLYTRANS_MODEL', 'POLYTRANS_MODEL_PATH', 'POLYTRANSD', 'LISTEN_FDS',
                  'NOTIFY_SOCKET'):
            self.env.pop(k, None)
        if daemon:
            self.env['POLYTRANSD'] = daemon
        self.log = os.path.join(tmp, 'state', 'polytrans', 'polytransd.log')

    def run(self, *args, stdin=b'', timeout=300):
        p = subprocess.run([self.client] + list(args), input=stdin, env=self.env,
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8',
                                                                                 'replace')

    def status(self):
        rc, out, err = self.run('--status', '--json', '--no-start')
        return json.loads(out) if rc == 0 else None

    def log_text(self):
        try:
            with open(self.log, encoding='utf-8', errors='replace') as f:
                return f.read()
        except OSError:
            return ''

    def stop(self):
        """SIGTERM to the daemon named in its log ("serving on ... (pid N)"),
        then its log must hold no sanitizer report (leaks at exit included)."""
        m = re.findall(r'serving on .* \(pid (\d+)\)', self.log_text())
        for pid in set(int(x) for x in m):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            for _ in range(300):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                check(False, 'polytransd %d did not exit within 30 s of SIGTERM' % pid)
                os.kill(pid, signal.SIGKILL)
        log = self.log_text()
        check(not any(m in log for m in SANITIZER_MARKS), 'sanitizer report in the daemon '
              'log: %s' % log[-3000:])


def check_first_run(fr, model, want_path, sample, need_text=True):
    """The README's path: the client starts the daemon, with model (None:
    the one it finds; want_path, when given, is the one it must use); the
    first run says it is the bundled model once, --status and the log say
    so. need_text: the translation must not be empty (a trained model)."""
    args = ['--model', model] if model else []
    rc, out, err = fr.run('--to', 'de', '--from', 'en', *args, stdin=sample.encode())
    check(rc == 0 and (out.strip() != '' or not need_text),
          'first translation: exit %d, %r %r' % (rc, out, err))
    check(err.count(CLIENT_NOTICE) == 1, 'first run: stderr %r lacks the notice' % err)
    rc, out, err = fr.run('--to', 'fr', '--from', 'en', stdin=sample.encode())
    check(rc == 0 and CLIENT_NOTICE not in err, 'second run: exit %d, stderr %r' % (rc, err))
    st = fr.status()
    if check(st is not None, '--status --json failed'):
        m = st['model']
        check(m['bundled'] is True and 'bundled' in m.get('note', ''),
              '--status --json: %r' % m)
        if want_path:
            check(m['path'] == want_path, 'model path %r, want %r' % (m['path'], want_path))
    rc, out, err = fr.run('--status', '--no-start')
    check(rc == 0 and 'note:' in out and 'PolyLM-1.7B or 13B' in out and 'bundled' in out,
          '--status: %r' % out)
    log = fr.log_text()
    check(log.count(LOG_NOTICE) == 1 and 'polylm-convert' in log,
          'daemon log: the notice %d times: %s' % (log.count(LOG_NOTICE), log[-1500:]))
