"""The examples `adaptx --help` and `adaptx COMMAND --help` end with: commands that work as written
(configs/quickstart.yaml reads the data pack shipped with adaptx, so it needs no data folder)."""

from __future__ import annotations

import argparse

EXAMPLES = {
    None: """\
examples:
  adaptx run configs/quickstart.yaml                     # the quickstart: runs offline, no data folder needed
  adaptx run configs/quickstart.yaml train.target_steps=50 strategies=[none,stack]
  adaptx report runs/quickstart                          # reprint its tables (--format md|csv|json|latex)
  adaptx zoo list                                        # adapters published in ./adapter_zoo
  adaptx data pull mnli qqp sst2 xnli pawsx --out data/hub

`adaptx COMMAND --help` for each command's options and examples; docs/cli.md for all of them.""",
    "run": """\
examples:
  adaptx run configs/quickstart.yaml
  adaptx run configs/quickstart.yaml --out runs/short train.target_steps=50 strategies=[none,stack]
  adaptx run configs/search-xnli.yaml --data-dir data/hub --device cuda:0

key=value overrides set any config key by its dotted name (docs/configs.md); values are YAML.
A rerun skips finished stages; an interrupted run resumes.""",
    "search": """\
examples:
  adaptx search configs/search-xnli.yaml --data-dir data/hub --trials 20
  adaptx search configs/search-xnli.yaml --data-dir data/hub --storage journal:search.log   # each worker, search.log on a shared disk

docs/search.md: the search: section, workers, outputs (trials.md, best.yaml).""",
    "report": """\
examples:
  adaptx report runs/quickstart
  adaptx report runs/quickstart --format csv > quickstart.csv
  adaptx report runs/quickstart --format latex            # booktabs tabulars for a paper

A run whose evaluation was interrupted is reported as far as it got; what is not evaluated yet is named.""",
    "zoo": """\
examples:
  adaptx zoo list --task qqp
  adaptx zoo show qqp-e5small-s0                          # a summary; --json prints the whole card
  adaptx zoo add runs/quickstart/stages/target-xnli-stack-qqp-s0-<hash> --name xnli-stack-mine
  adaptx zoo verify

docs/zoo.md: entries, cards, reuse as intermediate_tasks: [zoo:NAME].""",
    "analyze": """\
examples:
  adaptx analyze runs/quickstart                          # writes runs/quickstart/analysis/: gains, typology, plots
  adaptx analyze runs/quickstart --against fuse --no-plots --out runs/quickstart/vs-fuse

docs/analyze.md: what each table and plot says, several runs and seeds read together.""",
    "rank": """\
examples:
  adaptx rank xtreme/xnli --data-dir data/hub --candidates zoo:mnli-e5small-s0 zoo:qqp-e5small-s0 zoo:sst2-e5small-s0
  adaptx rank xtreme/xnli --data-dir data/hub --candidates all --by textemb --top 2   # writes top2-xnli.yaml

docs/rank.md: the estimators, their cost, and how well they picked on a measured grid (--grid).""",
    "predict": """\
examples:
  echo '{"text": "A wonderful, moving film."}' | adaptx predict zoo:sst2-e5small-s0 --input -   # no run needed
  adaptx predict runs/quickstart --input mine.jsonl       # mine.jsonl: {"premise": ..., "hypothesis": ...} per line
  adaptx predict runs/quickstart --stage stack --input mine.jsonl --out predictions.jsonl

docs/predict.md: the fields of each task kind, the output, adaptx.load(...) in Python.""",
    "config": """\
examples:
  adaptx config list
  adaptx config show xtreme/xnli                          # or configs/xtreme/xnli.yaml, as the docs write it
  adaptx config cp quickstart my-experiment.yaml          # a copy to edit; then adaptx run my-experiment.yaml""",
    "model": """\
examples:
  adaptx model export embedded models/e5-small            # then transformers.AutoModel.from_pretrained(...)""",
    "data": """\
examples:
  adaptx data pull mnli qqp sst2 xnli pawsx --out data/hub --max-rows 2000
  adaptx data verify data/hub

docs/data.md: the local layout, which tasks pull, the built-in quickstart pack.""",
}


def add_examples(parser: argparse.ArgumentParser, commands: dict[str, argparse.ArgumentParser]) -> None:
    """End the help of the parser and of each command with its examples, kept as written (line breaks)."""
    for name, target in [(None, parser), *commands.items()]:
        if name in EXAMPLES:
            target.epilog = EXAMPLES[name]
            target.formatter_class = argparse.RawDescriptionHelpFormatter
