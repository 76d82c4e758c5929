"""After the proxies: fit, find the best mixture, write mix.yaml, verify, and write the results."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import yaml

from corpus_forge.config import ConfigError
from corpus_forge.io import write_text_atomic
from train_smoke.search import regression, sampling, sources, verify
from train_smoke.search.config import MEAN
from train_smoke.search.results import Outcome, write_outputs


def targets(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """bpb per evaluation text (``bpb_<name>``) and their mean (``bpb_mean``), one value per proxy."""
    texts = sorted({t for r in rows for t in r["eval_bpb"]})
    out = {f"bpb_{t}": np.array([r["eval_bpb"][t] for r in rows], np.float64) for t in texts}
    out[f"bpb_{MEAN}"] = np.mean(np.stack(list(out.values())), axis=0)
    return out


def conclude(stage: Any, run: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything after the map; returns the ``search`` block of stats.json."""
    cfg = stage.config
    s = stage.setup(run)  # the pack of the sources is complete by now: nothing is redone
    names: list[str] = s["names"]
    X = np.array([[r["weights"][n] for n in names] for r in rows], np.float64)
    ys = targets(rows)
    main = f"bpb_{cfg.target}"
    if main not in ys:
        known = ", ".join(t.removeprefix("bpb_") for t in ys)
        raise ConfigError(f"mix-search.target: {cfg.target!r} is not an evaluation text (known: {known})")
    fit = regression.fit(X, ys, main, cfg.regression, cfg.seed)
    cands = sampling.candidate_weights(cfg, s["natural"], s["lo"], s["hi"])
    found, top = regression.best_mixture(fit.models[main], cands, cfg.top_k)
    mixes = {verify.FOUND: dict(zip(names, found.tolist(), strict=True)),
             verify.NATURAL: dict(zip(names, s["natural"].tolist(), strict=True)),
             verify.EQUAL: {n: 1.0 / len(names) for n in names}}
    paths = {n: sources.text_paths(n, cfg.sources[n]) for n in names}
    found_file = verify.mix_file(cfg, paths, {verify.FOUND: mixes[verify.FOUND]})
    write_text_atomic(os.path.join(run.out_dir, "mix.yaml"),
                      "# the mix found by corpus-forge mix search (see search.md): corpus-forge pack --tokenizer "
                      f"{sources.tokenizer_dir(cfg)} --mix mix.yaml --out DIR\n"
                      + yaml.safe_dump(found_file, sort_keys=False))
    runs = verify.run_verification(cfg, run.out_dir, run.client, sources.tokenizer_dir(cfg),
                                   verify.mix_file(cfg, paths, mixes))
    outcome = Outcome(cfg=cfg, names=names, rows=rows, X=X, targets=ys, main=main, fit=fit, mixes=mixes,
                      predicted={m: {t: float(fit.predict(t, np.array([list(w.values())]))[0]) for t in ys}
                                 for m, w in mixes.items()},
                      top=cands[top], available=s["available"], lo=s["lo"], hi=s["hi"], verify_rows=runs)
    return write_outputs(outcome, run.out_dir)
