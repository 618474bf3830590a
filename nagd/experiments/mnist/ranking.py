"""The paper's ranking from the deciding runs: their statistics and the findings' sentences (`findings`).

Section 4's verdict on the paper's ranking comes only from a complete set of deciding runs at full
scale (`_Deciding.complete`): full MNIST, every optimizer with all the runs its config asks for, each
run at the config's last epoch. Anything less gets its table and one line saying why no verdict is
drawn and which command completes the runs. The statistics are in `nagd.experiments.verdict`; the
sentences of the findings are written once, by `findings`.
"""
import math
from dataclasses import dataclass

import numpy as np

from .. import verdict
from .configs import _SERIES, CONFIGS, DECIDE_EPOCHS, LONG_EPOCHS, PUBLISHED

__all__ = ["findings", "TREND_EPOCHS", "FULL_TRAIN", "FULL_TEST", "deciding", "value_at",
           "values_at", "full_mnist", "data_phrase", "orderings", "trend_slope", "holm", "label", "short_outcome"]


MODES = (("eval mode", "test_accuracy", "test_loss"), ("dropout on", "test_dropout_accuracy", "test_dropout_loss"),
          ("running training minibatches", "train_running_accuracy", "train_loss"))
_MODE_PHRASE = {"eval mode": "the test set in eval mode (dropout off)",
                "dropout on": "the test set with dropout on (train mode)",
                "running training minibatches": "the running metrics over the training minibatches (dropout on)"}
TEST = "Welch's t-test per pair, Holm-corrected over the 15 pairs at family-wise 0.05"
_VERB = {"confirmed": "is confirmed", "not contradicted": "is not contradicted", "does not hold": "does not hold",
         "undecided": "is undecided"}
TREND_EPOCHS = 20
"""The findings' trend: least-squares slope of the mean curve over the last 20 epochs, per 10 epochs."""
FULL_TRAIN, FULL_TEST = 60_000, 10_000


def value_at(result, key, epoch):
    """A run's curve ``key`` at ``epoch``; None when the run has no such curve or did not reach the epoch."""
    values = result.get(key)
    if values is None or epoch >= len(values):
        return None
    return values[epoch]


def full_mnist(result):
    """True when a run trained on all 60,000 images of full MNIST and evaluated on all 10,000."""
    return ("sample" not in str(result.get("dataset", "sample")) and (result.get("n_train") or 0) >= FULL_TRAIN
            and (result.get("n_test") or 0) >= FULL_TEST)


def data_phrase(results):
    """The data of some runs in words: full MNIST, or which set and how many images."""
    kinds = {}
    for r in results:
        name = "full MNIST" if full_mnist(r) else str(r.get("dataset", "unknown data"))
        kinds.setdefault((name, r.get("n_train"), r.get("n_test")), 0)
    return "; ".join(f"{name} ({n_train or 0:,} training / {n_test or 0:,} test images used)"
                     for name, n_train, n_test in sorted(kinds, key=str))


@dataclass
class _Deciding:
    """The stored runs of one deciding target (``decide_*`` or ``decide200_*``) and their scale."""

    prefix: str
    target: str
    runs: dict                # {optimizer: [result, ...]} as stored, diverged runs included
    epochs: int               # the config's epochs
    expected: dict            # {optimizer: runs the config asks for}
    reasons: list             # why the set is not complete at full scale (empty: it is)

    @property
    def ok(self):
        """{optimizer: runs that did not diverge}, optimizers with none left out."""
        ok = {n: [r for r in rs if r.get("diverged_at_step") is None] for n, rs in self.runs.items()}
        return {n: rs for n, rs in ok.items() if rs}

    @property
    def diverged(self):
        return {n: sum(r.get("diverged_at_step") is not None for r in rs) for n, rs in self.runs.items()}

    @property
    def stored(self):
        return sum(min(len(self.runs.get(n, [])), k) for n, k in self.expected.items())

    @property
    def total(self):
        return sum(self.expected.values())

    @property
    def complete(self):
        return self.stored > 0 and not self.reasons

    @property
    def last_epoch(self):
        """The last epoch every run that did not diverge reached (0 with none)."""
        ends = [r["epoch"][-1] for rs in self.ok.values() for r in rs if r.get("epoch")]
        return min(ends) if ends else 0

    def scale(self, epoch):
        """e.g. ``6 optimizers x 5 runs x 50 epochs on full MNIST``."""
        runs = sorted(set(self.expected.values()))
        lost = sum(self.diverged.values())
        return (f"{len(self.expected)} optimizers x {'/'.join(map(str, runs))} runs x {epoch} epochs on full MNIST"
                + (f" ({lost} diverged run(s) left out)" if lost else ""))


def deciding(runs, prefix):
    """The stored runs of the deciding configs whose names start with ``prefix``, and their scale."""
    target = {"decide_": "mnist_decide", "decide200_": "mnist_decide200"}[prefix]
    expected = {n: int(CONFIGS[prefix + n]["runs"]) for n in _SERIES}
    epochs = int(CONFIGS[prefix + next(iter(_SERIES))]["epochs"])
    got = {n: list(runs.get(prefix + n) or []) for n in _SERIES}
    every = [r for rs in got.values() for r in rs]
    d = _Deciding(prefix, target, got, epochs, expected, [])
    partial = [r for r in every if not full_mnist(r)]
    if partial:
        d.reasons.append(f"the runs use {data_phrase(partial)}, not full MNIST ({FULL_TRAIN:,} / {FULL_TEST:,})")
    if every and d.last_epoch < epochs:
        d.reasons.append(f"they end at epoch {d.last_epoch}, not at the configuration's {epochs}")
    if d.stored < d.total:
        short = [f"{PUBLISHED['labels'][n]} {len(got[n])}" for n in _SERIES if len(got[n]) < expected[n]]
        d.reasons.append(f"{d.stored} of its {d.total} runs are stored (of {expected[next(iter(_SERIES))]} per "
                         f"optimizer: {', '.join(short)})")
    return d


def values_at(results, key, epoch):
    """`value_at` for each of the runs, in their order."""
    return [value_at(r, key, epoch) for r in results]


def orderings(d, epoch):
    """{(mode, "accuracy" or "loss"): verdict.Ordering} at ``epoch`` for the six (measurement, metric) pairs."""
    paper_acc = [n for n, _ in PUBLISHED["accuracy"]]
    paper_loss = [n for n, _ in PUBLISHED["loss"]]
    out = {}
    for mode, akey, lkey in MODES:
        out[mode, "accuracy"] = verdict.ordering_outcome({n: values_at(rs, akey, epoch) for n, rs in d.ok.items()},
                                                         paper_acc, True)
        out[mode, "loss"] = verdict.ordering_outcome({n: values_at(rs, lkey, epoch) for n, rs in d.ok.items()},
                                                     paper_loss, False)
    return out


def trend_slope(results, key, epoch, width=TREND_EPOCHS):
    """Least-squares slope of the mean curve over the epochs from ``epoch - width`` to ``epoch``, per 10 epochs."""
    first = max(1, epoch - width)
    curves = np.array([[np.nan if v is None else v for v in r[key][first:epoch + 1]] for r in results], dtype=float)
    mean = np.nanmean(curves, axis=0) if np.isfinite(curves).any() else np.full(curves.shape[1], np.nan)
    x = np.arange(first, epoch + 1)
    ok = np.isfinite(mean)
    if ok.sum() < 2:
        return math.nan
    return float(np.polyfit(x[ok], mean[ok], 1)[0] * 10)


def holm(p):
    """The phrase of a Holm-corrected p-value: "Holm p = 0.007" or "Holm p < 0.001"."""
    return "Holm p < 0.001" if p < 0.001 else f"Holm p = {p:.3f}"


def label(name):
    """The paper's label of an optimizer series (``Adam(η=0.001)`` for ``"adam"``)."""
    return PUBLISHED["labels"][name]


def _outcome_detail(o, metric):
    """The evidence behind an ordering's outcome, in one clause."""
    if o.outcome == "undecided":
        few = [label(n) for n, k in o.runs.items() if k < 2]
        return f"fewer than 2 runs of {', '.join(few) or 'an optimizer'}, so no test"
    comparative = "a higher accuracy" if metric == "accuracy" else "a lower loss"
    reversed_ = o.by_status("reversed")
    if o.outcome == "does not hold":
        head = "; ".join(f"{label(p.worse)} has {comparative} than {label(p.better)} by {abs(p.difference):.4f} "
                         f"({holm(p.p_holm)})" for p in reversed_) + (
            ", the reverse of the paper's order" if len(reversed_) == 1 else ", each the reverse of the paper's order")
    elif o.outcome == "confirmed":
        head = (f"each of its {len(o.adjacent)} neighbouring pairs is significantly in its order (largest Holm "
                f"{holm(max(p.p_holm for p in o.adjacent))[5:]})")
    else:
        loose = sum(p.status != "in order" for p in o.adjacent)
        head = ("no pair is significantly reversed, but " + (
            f"none of its {loose} neighbouring pairs is separated" if loose == len(o.adjacent) else
            f"{loose} of its {len(o.adjacent)} neighbouring pairs are not separated"))
    agree = sum(p.difference > 0 for p in o.pairs)
    return (f"{head}; {agree} of the {len(o.pairs)} pairs have our means in the paper's order, "
            f"{len(o.by_status('in order'))} of them significantly (Kendall τ = {o.tau:+.2f} between our order "
            "and the paper's)")


def short_outcome(o):
    """An ordering's outcome in a few words: the outcome, the reversed and ordered pairs, Kendall's τ."""
    if o.outcome == "undecided":
        return "undecided (fewer than 2 runs)"
    return (f"{o.outcome}: {len(o.by_status('reversed'))} reversed, {len(o.by_status('in order'))} in order of "
            f"{len(o.pairs)} pairs, τ = {o.tau:+.2f}")


def _percent(lo, hi):
    return f"{100 * lo:.2f}-{100 * hi:.2f} %"


def _levels_sentence(d, epoch):
    acc = [a for _, a in PUBLISHED["accuracy"]]
    loss = [v for _, v in PUBLISHED["loss"]]
    parts, both = [], []
    n = len(d.ok)
    for mode, akey, lkey in MODES:
        a = [verdict.mean_se(values_at(rs, akey, epoch))[0] for rs in d.ok.values()]
        v = [verdict.mean_se(values_at(rs, lkey, epoch))[0] for rs in d.ok.values()]
        ina = sum(min(acc) <= x <= max(acc) for x in a)
        inl = sum(min(loss) <= x <= max(loss) for x in v)
        if ina == n and inl == n:
            both.append(_MODE_PHRASE[mode])
        parts.append(f"on {_MODE_PHRASE[mode]} the mean accuracies are {_percent(min(a), max(a))} ({ina} of {n} "
                     f"inside) and the mean losses {min(v):.4f}-{max(v):.4f} ({inl} of {n} inside)")
    match = (f"Only {' and '.join(both)} puts every accuracy and every loss inside them." if both else
             "No measurement puts every mean accuracy and every mean loss inside them.")
    return (f"**Levels** (after epoch {epoch}, {d.scale(epoch)}, against the paper's 200-epoch ranges: accuracy "
            f"{_percent(min(acc), max(acc))}, loss {min(loss):.4f}-{max(loss):.3g}): " + "; ".join(parts) + ". "
            + match)


def findings(runs, out="results"):
    """The findings of section 4 on the paper's ranking, one wording each, generated from the stored runs.

    The report prints them verbatim under "Section 4 findings"; the README and
    ``docs/reproduction.md`` link there instead of restating them. A verdict is drawn only from a
    complete set of deciding runs at full scale (`deciding`): the 200-epoch set when it is
    complete, else the 50-epoch one. Each verdict names its scale, its measurement and its test
    (`nagd.experiments.verdict`).

    Parameters
    ----------
    runs : dict
        ``{config_name: [result of run, ...]}`` as `report` receives it.
    out : str, default "results"
        The results folder, for the command that completes an incomplete set.

    Returns
    -------
    list of str
        Markdown paragraphs; a single "no verdict" line when the runs cannot support one; empty when
        there are no deciding runs.
    """
    decide, long = deciding(runs, "decide_"), deciding(runs, "decide200_")
    chosen = long if long.complete else decide if decide.complete else None
    if chosen is None:
        pending = decide if any(decide.runs.values()) or not any(long.runs.values()) else long
        if not any(pending.runs.values()):
            return []
        return [f"**No verdict is drawn** on the paper's ranking: {'; '.join(pending.reasons)}. "
                f"`nagd reproduce {pending.target} --out {out}` completes the set ({pending.scale(pending.epochs)}, "
                "the paper's settings; it needs the MNIST files: `nagd data fetch mnist`)."]
    epoch = chosen.epochs
    orders = orderings(chosen, epoch)
    scale = chosen.scale(epoch)
    lines = []
    for metric in ("accuracy", "loss"):
        o = orders["eval mode", metric]
        lines.append(f"**Ranking by test {metric}** ({scale}; measured on {_MODE_PHRASE['eval mode']}; {TEST}): "
                     f"the paper's order {_VERB[o.outcome]}: {_outcome_detail(o, metric)}.")
    others = []
    for mode in ("dropout on", "running training minibatches"):
        a, v = orders[mode, "accuracy"], orders[mode, "loss"]
        ca, cv = (short_outcome(o).split(": ", 1)[-1] for o in (a, v))
        others.append(f"on {_MODE_PHRASE[mode]}, the ranking by accuracy {_VERB[a.outcome]} ({ca}) and the ranking "
                      f"by loss {_VERB[v.outcome]} ({cv})")
    lines.append("**The other two measurements** (same runs, epoch and test): " + "; ".join(others) + ".")
    trend = {n: trend_slope(rs, "test_accuracy", epoch) for n, rs in chosen.ok.items()}
    fast, slow = max(trend, key=trend.get), min(trend, key=trend.get)
    window = f"epochs {max(1, epoch - TREND_EPOCHS)}-{epoch}"
    if epoch < LONG_EPOCHS:
        lines.append(f"**Epochs**: these verdicts are at epoch {epoch}; the paper ranks after {LONG_EPOCHS}. Over "
                     f"{window} the eval-mode test accuracy still changes by {trend[fast]:+.4f} per 10 epochs for "
                     f"{label(fast)} (the fastest) and {trend[slow]:+.4f} for {label(slow)} (the slowest); the "
                     f"same runs continued to {LONG_EPOCHS} epochs (`nagd reproduce mnist_decide200 --out {out}`) "
                     f"have {long.stored} of {long.total} runs stored.")
    else:
        early = orderings(chosen, DECIDE_EPOCHS)
        lines.append(f"**Epochs**: these verdicts are at the paper's {epoch} epochs (the {DECIDE_EPOCHS}-epoch runs "
                     f"continued with their seeds); at epoch {DECIDE_EPOCHS} the same test gave: by accuracy "
                     f"{short_outcome(early['eval mode', 'accuracy'])}, by loss "
                     f"{short_outcome(early['eval mode', 'loss'])}. Over "
                     f"{window} the eval-mode test accuracy changes by {trend[slow]:+.4f} to {trend[fast]:+.4f} "
                     "per 10 epochs.")
    lines.append(_levels_sentence(chosen, epoch))
    acc = [a for _, a in PUBLISHED["accuracy"]]
    eval_acc = [verdict.mean_se(values_at(rs, "test_accuracy", epoch))[0] for rs in chosen.ok.values()]
    if min(eval_acc) > max(acc):
        drop = [trend_slope(rs, "test_dropout_accuracy", epoch) for rs in chosen.ok.values()]
        lines.append(
            "**Measured with dropout on: a hypothesis, not a finding.** Every eval-mode accuracy is above the paper's "
            f"range; that the paper measured with dropout on (the test set in train mode, or the running training "
            f"metrics) would lower them, but no measurement above matches both its accuracy and its loss levels, "
            f"the accuracy order of the running training metrics has Kendall τ = "
            f"{orders['running training minibatches', 'accuracy'].tau:+.2f} against the paper's (test set with "
            f"dropout on: {orders['dropout on', 'accuracy'].tau:+.2f}; eval mode: "
            f"{orders['eval mode', 'accuracy'].tau:+.2f}), and over {window} the test accuracy with dropout on "
            f"still changes by {min(drop):+.4f} to {max(drop):+.4f} per 10 epochs.")
    return lines
