#!/usr/bin/python3
"""bundled-discovery: the order in which polytransd finds its model
(polytransd(8), MODEL), checked with --check-config, which finds the model
without loading it, on empty stand-in files:

  --model, then the config's `model`, then POLYTRANS_MODEL (each must exist:
  no fallback past a named model), then the first *.gguf in
  $XDG_DATA_HOME/polytrans/models/, then the bundled model:
  POLYTRANS_MODEL_PATH, the installed one, and for a daemon run from its build
  folder the source tree's tools/bundled/bundled.gguf; a copy of the daemon
  outside the build folder never takes the source tree's.

usage: test_discovery.py POLYTRANSD (env SRC_ROOT, INSTALLED_BUNDLED)"""
import os
import shutil
import subprocess
import sys
import tempfile

DAEMON = sys.argv[1]
SOURCE_BUNDLED = os.path.join(os.environ['SRC_ROOT'], 'tools', 'bundled', 'bundled.gguf')
INSTALLED = os.environ['INSTALLED_BUNDLED']
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print('FAIL: ' + what)


def touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, 'w').close()
    return path


class Case:
    """The files of every source of a model, and which ones are offered."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.flag = touch(os.path.join(tmp, 'flag.gguf'))
        self.conf_model = touch(os.path.join(tmp, 'conf.gguf'))
        self.env_model = touch(os.path.join(tmp, 'env.gguf'))
        self.data = os.path.join(tmp, 'data')
        models = os.path.join(self.data, 'polytrans', 'models')
        touch(os.path.join(models, 'b.gguf'))
        self.data_model = touch(os.path.join(models, 'a.gguf'))
        touch(os.path.join(models, '.hidden.gguf'))
        touch(os.path.join(models, 'notes.txt'))
        self.path_model = touch(os.path.join(tmp, 'path', 'bundled.gguf'))
        self.conf = os.path.join(tmp, 'with-model.conf')
        with open(self.conf, 'w') as f:
            f.write('model = %s\n' % self.conf_model)
        self.empty_conf = os.path.join(tmp, 'empty.conf')
        with open(self.empty_conf, 'w') as f:
            f.write('# nothing\n')

    def run(self, exe=DAEMON, flag=True, conf=True, env_model=True, data=True, path=True,
            env_override=None):
        env = dict(os.environ, XDG_RUNTIME_DIR=self.tmp,
                   XDG_CONFIG_HOME=os.path.join(self.tmp, 'cfg'),
                   XDG_STATE_HOME=os.path.join(self.tmp, 'state'),
                   XDG_DATA_HOME=self.data if data else os.path.join(self.tmp, 'nodata'))
        for k in ('POLYTRANS_MODEL', 'POLYTRANS_MODEL_PATH', 'LISTEN_FDS'):
            env.pop(k, None)
        if env_model:
            env['POLYTRANS_MODEL'] = self.env_model
        if path:
            env['POLYTRANS_MODEL_PATH'] = self.path_model
        env.update(env_override or {})
        cmd = [exe, '--config', self.conf if conf else self.empty_conf, '--check-config']
        if flag:
            cmd += ['--model', self.flag]
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=30)
        out = p.stdout.decode()
        model = next((x[len('model: '):] for x in out.splitlines() if x.startswith('model: ')),
                     None)
        return p.returncode, model, p.stderr.decode()


def main():
    with tempfile.TemporaryDirectory(prefix='pt-discovery-') as tmp:
        c = Case(tmp)
        order = [({}, c.flag, '--model'),
                 ({'flag': False}, c.conf_model, "config 'model'"),
                 ({'flag': False, 'conf': False}, c.env_model, 'POLYTRANS_MODEL'),
                 ({'flag': False, 'conf': False, 'env_model': False}, c.data_model,
                  'first *.gguf of the data folder'),
                 ({'flag': False, 'conf': False, 'env_model': False, 'data': False},
                  c.path_model, 'POLYTRANS_MODEL_PATH')]
        for kw, want, what in order:
            rc, model, err = c.run(**kw)
            check(rc == 0 and model == want, '%s: got %r (exit %d) %s' % (what, model, rc, err))
            print('%-32s -> %s' % (what, model))

        # A model the person names must exist; nothing else stands in.
        missing = os.path.join(tmp, 'missing.gguf')
        rc, model, err = c.run(flag=False, conf=False, env_override={'POLYTRANS_MODEL': missing})
        check(rc == 1 and 'POLYTRANS_MODEL=' in err and 'missing.gguf' in err,
              'missing POLYTRANS_MODEL: exit %d %r' % (rc, err))
        os.unlink(c.conf_model)
        rc, model, err = c.run(flag=False)
        check(rc == 1 and 'conf.gguf' in err, "missing config 'model': exit %d %r" % (rc, err))

        # Nothing named: the installed bundled model, else the source tree's.
        nothing = dict(flag=False, conf=False, env_model=False, data=False, path=False)
        rc, model, err = c.run(**nothing)
        if os.path.isfile(INSTALLED):
            want = INSTALLED
        elif os.path.isfile(SOURCE_BUNDLED):
            want = SOURCE_BUNDLED
        else:
            want = None
        if want:
            check(rc == 0 and model == want, 'bundled: got %r, want %r (exit %d) %s'
                  % (model, want, rc, err))
        else:
            check(rc == 1 and 'no model found' in err and 'polylm-convert' in err,
                  'no model at all: exit %d %r' % (rc, err))
        print('%-32s -> %s' % ('nothing named (build folder)', model or 'none: ' + err[:60]))

        # A copy outside the build folder never takes the source tree's.
        copy = os.path.join(tmp, 'bin', 'polytransd')
        os.makedirs(os.path.dirname(copy))
        shutil.copy(DAEMON, copy)
        rc, model, err = c.run(exe=copy, **nothing)
        check(model != SOURCE_BUNDLED, 'a daemon outside its build folder took the source '
              "tree's model")
        if not os.path.isfile(INSTALLED):
            check(rc == 1 and 'no model found' in err, 'copy: exit %d %r' % (rc, err))
        print('%-32s -> %s' % ('nothing named (copied daemon)', model or 'none'))
    if failures:
        print('%d failed' % len(failures))
        return 1
    print('model discovery: all checks passed')
    return 0


if __name__ == '__main__':
    sys.exit(main())
