"""The setup screen's training jobs, each run in a worker thread: one model, or the demo pair.

They touch no widget: they report by posting `tui.messages` (`post`, the screen's
`post_message`) and stop when their `worker` is cancelled (after the current epoch).
"""

from __future__ import annotations

from tui.messages import DemoCancelled, DemoReady, DemoStep, TrainEpoch, TrainFinished
from tui.runs import link_run


class TrainingCancelled(Exception):
    """Raised from the training callback when the app closes the training worker."""


def train_model(post, backend, runs_dir, request, worker) -> None:
    """Trains `request` into `<runs_dir>/<name>`, posting every epoch, then `TrainFinished`."""

    def on_epoch(epoch: int, logs: dict) -> None:
        post(TrainEpoch(request.name, epoch, int(logs.get("epochs", request.epochs)), dict(logs)))
        if worker.is_cancelled:
            raise TrainingCancelled(f"training of {request.name} cancelled after epoch {epoch}")

    out = runs_dir / request.name
    backend.train(request, out, on_epoch=on_epoch)
    post(TrainFinished(request.name, out))


def train_demo(post, backend, runs_dir, worker) -> None:
    """Trains or loads each model of the pair, links it into the runs folder, then says so."""
    pair = backend.demo_pair()
    threat = backend.demo_threat()
    kept: list[str] = []
    for index, model in enumerate(pair):
        if worker.is_cancelled:
            post(DemoCancelled(tuple(kept)))
            return
        epochs = int(model.config.epochs)
        cached = backend.demo_cached(model)
        post(DemoStep(model.name, model.label, index, cached, epochs))

        def on_epoch(epoch: int, logs: dict, name=model.name, epochs=epochs) -> None:
            post(TrainEpoch(name, epoch, int(logs.get("epochs", epochs)), logs))
            if worker.is_cancelled:
                raise TrainingCancelled(f"training of {name} cancelled after epoch {epoch}")

        try:
            run_dir = backend.train_demo(model, on_epoch=on_epoch)
        except TrainingCancelled:
            post(DemoCancelled(tuple(kept)))
            return
        link_run(run_dir, runs_dir, model.name)
        kept.append(model.name)
        post(TrainFinished(model.name, runs_dir / model.name))
    post(DemoReady(tuple(kept), threat))
