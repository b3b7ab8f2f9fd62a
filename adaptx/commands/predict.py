"""`adaptx predict SOURCE --input FILE`: predictions for rows of your own (adaptx.predict)."""

from __future__ import annotations

import sys

from .arguments import add_device, add_dtype

TAKES_OVERRIDES = False


def add_parser(subparsers):
    predict = subparsers.add_parser("predict", help="predict rows of your own with a trained model (a run, a stage, "
                                                    "a zoo entry)")
    predict.add_argument("source", help="a run folder (runs/NAME: its best evaluated target stage unless "
                                        "--stage), a stage folder (runs/NAME/stages/ID-HASH), zoo:NAME or a zoo "
                                        "entry folder")
    predict.add_argument("--stage", help="with a run folder: the stage to use, by id, folder name or strategy")
    predict.add_argument("--input", required=True, help="rows to predict: FILE.jsonl (one JSON object per line; - "
                                                        "reads standard input) or FILE.tsv (a header row naming the "
                                                        "fields); fields per task kind in docs/predict.md")
    predict.add_argument("--out", help="write the predictions here as JSON lines (default: standard output)")
    add_device(predict, "auto")
    add_dtype(predict)
    predict.add_argument("--zoo", help="the zoo folder for zoo:NAME (default: $ADAPTX_ZOO, else ./adapter_zoo)")
    predict.add_argument("--base", help="the base model, when the run's name for it no longer loads (a moved "
                                        "folder); it must hold the exact weights the model was trained on")
    predict.add_argument("--batch-size", type=int, default=64, help="rows per forward pass (default 64)")
    return predict


def main(args) -> int:
    from ..predict import predict_file

    n, predictor = predict_file(args.source, args.input, args.out, args.stage, args.device, args.dtype, args.zoo,
                                args.base, args.batch_size)
    # stdout holds the predictions (when no --out): what was used goes to stderr
    print(f"adaptx: {n} rows predicted with {predictor.source}, task {predictor.task}"
          f"{f'; {predictor.note}' if predictor.note else ''}; base in {predictor.dtype} ({predictor.dtype_reason})"
          f"{f'; wrote {args.out}' if args.out else ''}",
          file=sys.stderr)
    return 0
