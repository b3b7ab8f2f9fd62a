"""`adaptx report RUN`: reprint a run's results tables (adaptx.report)."""

from __future__ import annotations

TAKES_OVERRIDES = False


def add_parser(subparsers):
    report = subparsers.add_parser("report", help="reprint the results tables of a finished or partial run")
    report.add_argument("run_dir")
    report.add_argument("--format", choices=("md", "csv", "json", "latex"), default="md",
                        help="md: the tables as results.md has them (default); csv: one row per cell; json: the "
                             "summary with intervals; latex: booktabs tabulars")
    return report


def main(args) -> int:
    from ..report import print_report

    problems = print_report(args.run_dir, args.format)  # the tables of what is sound; each problem on stderr
    return 1 if problems else 0
