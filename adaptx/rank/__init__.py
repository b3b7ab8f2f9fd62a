"""`adaptx rank`: choose intermediate adapters for a target before training on it (docs/rank.md).

estimators.py: LogME and TextEmb on arrays; features.py: features of the target's English training
sample with a candidate adapter active; candidates.py: which adapters, and where their weights are;
ranking.py: every estimator per target x candidate, with its cost; tables.py: rank.md/csv/json and
the --top K config fragment; scoring.py: Regret@k and Spearman against a measured grid.
The command that ties them together is adaptx/commands/rank.py.
"""
