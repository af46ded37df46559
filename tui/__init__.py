"""`tfls-tui`: a Textual app to pick defenses, attacks and ε and watch robust accuracy live.

The library (`tfls`) never imports this package; this package imports `tfls` lazily, in worker
threads, so the interface is up before TensorFlow has finished loading.
"""
