"""``corpus-forge mix search``: RegMix-style search over source weights (Liu et al. 2024, sail-sg/regmix).

config (the search YAML) · sources (each packed once) · sampling (Dirichlet weights inside bounds) ·
stage (the runner step: one proxy run per partition) · regression (weights -> bits per byte) ·
outcome (fit, found mix, mix.yaml, verification) · verify (found vs natural and equal through ablate) ·
results and plots (proxies.csv, search.md, weights.png, fit.png, the report section).
"""
