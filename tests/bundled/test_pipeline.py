#!/usr/bin/python3
"""bundled-pipeline: the bundled model's whole build path on a tiny model,
so that it is checked without the trained one: a few corpus lines made here
-> train-tokenizer -> train-model (2 steps, d=32, 1 layer) -> build-model
(export-hf, polylm-convert --bundled) -> polytrans-model info (bundled, name,
prompt kind, shapes) and translate -> tools/bundled/eval through the daemon
-> the daemon, started by the client as on a first run, says it serves the
bundled model. The model's output is
nonsense: only that every step runs and what the file says are checked.

usage: test_pipeline.py POLYTRANS_MODEL POLYTRANS POLYTRANSD (env SRC_ROOT)"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bundledtest import check, check_first_run, finish, FirstRun  # noqa: E402

PM, CLIENT, DAEMON = (os.path.abspath(x) for x in sys.argv[1:4])
TOOLS = os.path.join(os.environ['SRC_ROOT'], 'tools', 'bundled')
EVAL = os.path.join(TOOLS, 'eval')
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable

ROWS = [('de', 'Open file', 'Datei öffnen'), ('de', 'Save the document', 'Dokument speichern'),
        ('fr', 'Open file', 'Ouvrir le fichier'), ('fr', 'Close window', 'Fermer la fenêtre'),
        ('zh', 'Open file', '打开文件'), ('ja', 'Cancel', 'キャンセル'),
        ('ru', 'Print', 'Печать'), ('ar', 'Save', 'حفظ')]


def step(name, argv, **kw):
    p = subprocess.run([PY] + argv, capture_output=True, timeout=240, **kw)
    out, err = p.stdout.decode(), p.stderr.decode()
    check(p.returncode == 0, '%s: exit %d: %s' % (name, p.returncode, err[-1500:]))
    return p.returncode, out, err


def check_eval(tmp, model):
    """tools/bundled/eval end to end on the tiny model (its figures are
    noise: only their shape is checked), and its input errors."""
    held = os.path.join(tmp, 'heldout.tsv')
    with open(held, 'w', encoding='utf-8') as f:
        for row in ROWS:
            if row[0] in ('de', 'zh'):
                f.write('\t'.join(row) + '\n')
    res_path = os.path.join(tmp, 'eval.json')
    build = os.path.dirname(os.path.dirname(CLIENT))
    rc, out, err = step('eval', [EVAL, model, held, '--langs', 'de,zh', '--build', build,
                                 '--json', res_path, '--threads', '1'])
    if rc:
        return
    print(out.strip())
    with open(res_path) as f:
        res = json.load(f)
    check(res['bundled'] is True and sorted(res['directions']) == ['de-en', 'en-de', 'en-zh',
                                                                   'zh-en'],
          'eval JSON: %r' % res)
    check(all(0 <= d['chrf'] <= 100 and d['n'] == (2 if k in ('en-de', 'de-en') else 1)
              for k, d in res['directions'].items()), 'eval figures: %r' % res['directions'])
    check('average chrF: en->X' in out, 'eval output: %r' % out)
    bad = os.path.join(tmp, 'bad.tsv')
    with open(bad, 'w', encoding='utf-8') as f:
        f.write('de\tOpen file\n')
    for args, want in (([model, bad], 'bad.tsv:1'), ([model, held], 'no pairs for fr'),
                       ([os.path.join(tmp, 'none.gguf'), held], 'none.gguf')):
        langs = ['--langs', 'de,fr'] if want.startswith('no pairs') else []
        p = subprocess.run([PY, EVAL] + args + langs + ['--build', build],
                           capture_output=True, timeout=60)
        check(p.returncode == 1 and want in p.stderr.decode() and b'Traceback' not in p.stderr,
              'eval %s: exit %d %r' % (want, p.returncode, p.stderr))


def main():
    try:
        import sentencepiece  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        print('SKIP: %s (python3-torch and python3-sentencepiece train the model)' % e)
        return 77
    with tempfile.TemporaryDirectory(prefix='pt-bundled-') as tmp:
        corpus = os.path.join(tmp, 'corpus')
        os.mkdir(corpus)
        with open(os.path.join(corpus, 'train.tsv'), 'w', encoding='utf-8') as f:
            for row in ROWS * 3:
                f.write('\t'.join(row) + '\n')
        tok = os.path.join(tmp, 'tok')
        run = os.path.join(tmp, 'run')
        model = os.path.join(tmp, 'tiny.gguf')
        if step('train-tokenizer', [os.path.join(TOOLS, 'train-tokenizer'),
                                    os.path.join(corpus, 'train.tsv'), tok, '--vocab', '400'])[0]:
            return finish('bundled-pipeline')
        if step('train-model', [os.path.join(TOOLS, 'train-model'), corpus, tok + '.model', run,
                                '--max-steps', '2', '--embd', '32', '--layers', '1', '--heads',
                                '2', '--ff', '64', '--threads', '1'])[0]:
            return finish('bundled-pipeline')
        rc, out, err = step('build-model', [os.path.join(TOOLS, 'build-model'),
                                            os.path.join(run, 'checkpoint.pt'), tok + '.model',
                                            model])
        if rc:
            return finish('bundled-pipeline')
        size = os.path.getsize(model)
        check(('%d bytes' % size) in out and 'q8_0' in out, 'build-model output: %r' % out)
        print(out.strip())

        # The size limit of the committed file is enforced.
        p = subprocess.run([PY, os.path.join(TOOLS, 'build-model'),
                            os.path.join(run, 'checkpoint.pt'), tok + '.model',
                            os.path.join(tmp, 'big.gguf'), '--max-bytes', str(size // 2)],
                           capture_output=True, timeout=240)
        check(p.returncode == 1 and b'larger than' in p.stderr,
              'build-model --max-bytes: exit %d %r' % (p.returncode, p.stderr[-300:]))
        # A missing checkpoint is a clear error, not a traceback.
        p = subprocess.run([PY, os.path.join(TOOLS, 'build-model'), os.path.join(tmp, 'none.pt'),
                            tok + '.model', os.path.join(tmp, 'x.gguf')],
                           capture_output=True, timeout=60)
        check(p.returncode == 1 and b'none.pt' in p.stderr and b'Traceback' not in p.stderr,
              'missing checkpoint: exit %d %r' % (p.returncode, p.stderr))

        p = subprocess.run([PM, 'info', model], capture_output=True, timeout=60)
        info = p.stdout.decode()
        for want in ('bundled model:           yes', 'name:                    polytrans small '
                     'bundled model', 'prompt kind:             base', 'layers:                  1',
                     'embedding size:          32', 'weight type:             q8_0'):
            check(want in info, 'polytrans-model info lacks %r:\n%s' % (want, info))
        p = subprocess.run([PM, 'translate', model, '--from', 'en', '--to', 'de',
                            '--max-tokens', '8', 'Open file'], capture_output=True, timeout=60)
        check(p.returncode == 0, 'polytrans-model translate: exit %d %r'
              % (p.returncode, p.stderr))
        print('polytrans-model translate: %r' % p.stdout.decode('utf-8', 'replace'))

        check_eval(tmp, model)

        fr = FirstRun(tmp, CLIENT, DAEMON)
        try:
            check_first_run(fr, model, model, 'Open file\nSave the document\n',
                            need_text=False)
        finally:
            fr.stop()
    return finish('bundled-pipeline')


if __name__ == '__main__':
    sys.exit(main())
