#!/usr/bin/env bash
# The study at convergence (docs/replication.md), its four runs in the order that finishes a claim
# soonest: Tatoeba and BUCC (evaluation only, one seed), XNLI and PAWS-X seed 0 then seed 1 (the same
# stages as seeds=[0,1]), then the QA run. Every run folder lands in studies/<run>/, whose small files
# (manifests, metrics, evaluation files, results, analysis) are committed, so finished stages survive
# a fresh checkout; weights and checkpoints stay out of git (studies/.gitignore), and a done stage whose
# evaluation files are all there is skipped without them. Rerun the same command to go on.
#
#   scripts/convergence_study.sh [DATA]        # DATA: the local data folder (default ../shared/data)
#
# ADAPTX: the adaptx command to run (default: adaptx on PATH). A long study may run a frozen copy of
# the code, so that edits made meanwhile do not reach it halfway, e.g.
#   git clone -q . /tmp/study-code && ADAPTX="env PYTHONPATH=/tmp/study-code adaptx" scripts/convergence_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data}"
adaptx="${ADAPTX:-adaptx}"
run() { $adaptx run "configs/$1.yaml" --data-dir "$data" --out "studies/$1" "${@:2}"; }
run convergence-retrieval
run convergence-bucc
run convergence seeds=[0]
run convergence
run convergence-qa
