"""The `tfls` command line: a thin client of tfls.training, tfls.eval and tfls.bench."""
