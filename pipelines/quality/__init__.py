"""``corpus-forge quality train``: train the fastText quality classifier used by the ``quality`` filter.

    corpus-forge quality train --positive wiki/ books.txt.gz --negative EXTRACT_OUT --out MODEL_DIR

Positive = reference text (Wikipedia, books, curated pages); negative = raw extracted crawl. Inputs are
text, JSON-lines or Parquet files, globs or stage output folders. Writes ``MODEL_DIR/model.ftz`` (or
``model.bin`` with ``--no-quantize``) and ``MODEL_DIR/stats.json`` with held-out precision, recall and
ROC-AUC. Use it with ``{type: quality, model: MODEL_DIR}`` in the filter stage's config.
"""

from __future__ import annotations

import argparse
import json

from corpus_forge.cli_common import config_from_args
from corpus_forge.config import validate
from corpus_forge.options_cli import add_model_arguments, options_from_args
from pipelines.quality.train_classifier import QualityTrainConfig, train


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("quality", help="train the fastText quality classifier",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    qsub = p.add_subparsers(dest="quality_command", metavar="COMMAND")
    t = qsub.add_parser("train", help="train on reference (positive) vs crawl (negative) text",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    t.add_argument("--positive", nargs="+", required=True, metavar="PATH", help="reference text")
    t.add_argument("--negative", nargs="+", required=True, metavar="PATH", help="raw crawl text")
    t.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder or URL for model.ftz and stats.json")
    t.add_argument("--config", default=None, help="YAML with hyper-parameters (keys as the options below)")
    add_model_arguments(t, QualityTrainConfig, title="hyper-parameters (fastText's names)")
    p.set_defaults(func=main, _parser=p)
    t.set_defaults(func=main, _parser=p)


def main(args: argparse.Namespace) -> int:
    if getattr(args, "quality_command", None) != "train":
        args._parser.print_help()
        return 2
    opts = config_from_args(args, options_from_args(QualityTrainConfig, args))
    cfg = validate(QualityTrainConfig, opts, "quality train")
    stats = train(args.positive, args.negative, args.out, cfg)
    h = stats["heldout"]
    print(f"model: {args.out}/{stats['model']} ({stats['model_bytes']:,} bytes); held-out "
          f"{stats['chunks']['heldout']} chunks: precision {h['precision']}, recall {h['recall']}, "
          f"ROC-AUC {h['roc_auc']}")
    print(json.dumps(stats["chunks"]))
    return 0
