"""`adaptx analyze RUN...`: gains, intervals and the typology reading over finished runs (adaptx.analysis)."""

from __future__ import annotations

TAKES_OVERRIDES = False


def add_parser(subparsers):
    analyze = subparsers.add_parser("analyze", help="gains with paired intervals, gap and gain vs typological "
                                                    "distance from English (URIEL), plots; over one or more runs")
    analyze.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or a search's search/<study>/best)")
    analyze.add_argument("--out", help="output folder (default: the first RUN's analysis/)")
    analyze.add_argument("--no-plots", action="store_true", help="tables and analysis.md only (no PNGs)")
    analyze.add_argument("--include-same-data", action="store_true",
                         help="keep rows whose intermediate task trained on the target's own English data (§, e.g. "
                              "MNLI under XNLI) in the typology reading (default: tables only)")
    analyze.add_argument("--against", metavar="ROW",
                         help="measure every row's gains against this row (e.g. fuse, or 'stack (mnli)') instead of "
                              "each strategy's own baseline (none)")
    return analyze


def main(args) -> int:
    from ..analysis.analyze import analyze, summary_lines

    analysis = analyze(args.runs, args.out, draw_plots=not args.no_plots, against=args.against,
                       include_same_data=args.include_same_data)
    print("\n".join(summary_lines(analysis)))
    return 0
