"""The checks of a model and of attack outcomes that `tfls.eval.evaluate` runs and `tfls.audit` builds on.

`model_checks` (probability outputs, randomness, gradient availability, logit scale, ...) and
`comparisons` (paired tests of two attacks' per-example outcomes) return `CheckResult`s
(`result`); every threshold and its source is in `thresholds`. The audit adds the checks that
need more attacks, and decides the verdict.
"""
