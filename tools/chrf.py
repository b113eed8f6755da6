#!/usr/bin/python3
"""chrf.py: corpus-level chrF (character 6-grams, beta 2, whitespace
ignored), computed as sacreBLEU does: n-gram statistics are summed over all
sentences, then precision and recall are averaged over the n-gram orders and
combined into an F-score. As a module: corpus_chrf(hyps, refs) -> 0..100.
As a program: chrf.py HYP_FILE REF_FILE (one sentence per line)."""
import sys
from collections import Counter

ORDER = 6
BETA = 2.0


def _ngrams(s, n):
    return Counter(s[i:i + n] for i in range(len(s) - n + 1))


def stats(hyp, ref):
    """[hyp_count, ref_count, matches] for each order 1..6."""
    h, r = ''.join(hyp.split()), ''.join(ref.split())
    out = []
    for n in range(1, ORDER + 1):
        hn, rn = _ngrams(h, n), _ngrams(r, n)
        out.append((sum(hn.values()), sum(rn.values()), sum((hn & rn).values())))
    return out


def score_from_stats(total):
    eps = 1e-16
    prec = rec = 0.0
    eff = 0
    for n_hyp, n_ref, n_match in total:
        if n_hyp > 0 and n_ref > 0:
            prec += n_match / n_hyp
            rec += n_match / n_ref
            eff += 1
    if eff == 0:
        return 0.0
    prec, rec = prec / eff, rec / eff
    if prec + rec < eps:
        return 0.0
    b2 = BETA * BETA
    return 100.0 * (1 + b2) * prec * rec / (b2 * prec + rec)


def corpus_chrf(hyps, refs):
    total = [[0, 0, 0] for _ in range(ORDER)]
    for h, r in zip(hyps, refs):
        for i, st in enumerate(stats(h, r)):
            for k in range(3):
                total[i][k] += st[k]
    return score_from_stats(total)


def main():
    if len(sys.argv) != 3:
        print('usage: chrf.py HYP_FILE REF_FILE', file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding='utf-8') as f:
        hyps = f.read().splitlines()
    with open(sys.argv[2], encoding='utf-8') as f:
        refs = f.read().splitlines()
    if len(hyps) != len(refs):
        print(f'chrf.py: {len(hyps)} hypotheses but {len(refs)} references', file=sys.stderr)
        return 1
    print(f'{corpus_chrf(hyps, refs):.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
