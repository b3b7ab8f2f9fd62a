"""`adaptx analyze`: what finished runs say, beyond the results table.

  analyze.py      the command: read runs, compute, write files and plots (and `after_run`)
  runs.py         run folders -> records, base model, predictions, fusion attention, stage metrics
  gains.py        score, gain over the baseline, transfer gap per language (adaptx.stats bootstrap)
  study.py        the typology question: gap and gain against distance from English
  correlation.py  Spearman, partial Spearman, slope, and their bootstrap over items and languages
  typology.py     distances from English computed by URIEL+ (urielplus); the ISO 639-1 -> 639-3 map
  cc100.py        XLM-R's pretraining data per language (CC-100, a cited table)
  published_rows.py  each row's all-language average beside adaptx.published's figures (XLM-R Large runs)
  writeup.py      analysis.md and the CSV files
  plots.py        the PNGs (matplotlib, Agg)
"""
