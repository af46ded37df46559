"""The PyTorch reference for `tfls bench autoattack`: fra31/auto-attack on the same weights.

AutoAttack's authors' own implementation (github: fra31/auto-attack, not on PyPI) and
torchattacks' port of it attack a `torch.nn.Module`. `to_torch` copies a Keras functional model
(Conv2D, Dense, pooling, Flatten, ReLU, Add, BatchNormalization, Dropout, tfls' Standardize:
the cnn4, small CNN and wide ResNets of `tfls.models`) into one and checks that both give the
same logits on the benchmark images; `run_fra31` and `run_torchattacks` time one
component (or the whole standard AutoAttack) with the budgets tfls uses. The libraries then run
in one process on the same cores, so their ratio is measured, not assumed. Needs `torch`, and a
checkout of fra31/auto-attack on `PYTHONPATH` or `pip install torchattacks`; import this module
only when `tfls.bench.autoattack_peers.pytorch_available(...)`.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from tfls.attacks.autoattack import SETTINGS, STANDARD
from tfls.bench.components import FULL, spec


def versions(libraries) -> dict:
    found = {"torch": torch.__version__}
    if "fra31" in libraries:
        import autoattack

        found["fra31/auto-attack"] = autoattack.__path__[0]  # a checkout: no version number
    if "torchattacks" in libraries:
        import torchattacks

        found["torchattacks"] = torchattacks.__version__
    return found


def run(library, net, name, x, y, *, eps, seed=0, overrides=None):
    """`library`'s component `name` (or its whole standard AutoAttack) on NHWC `(x, y)`."""
    if name != FULL and name not in SETTINGS:
        raise ValueError(
            f"Unknown component; expected one of {(*SETTINGS, FULL)}. Received: {name!r}"
        )
    runner = {"fra31": run_fra31, "torchattacks": run_torchattacks}[library]
    return runner(net, name, x, y, eps=eps, seed=seed, overrides=overrides)


class FlattenNHWC(torch.nn.Module):
    """Keras' Flatten order (channels last) for an NCHW tensor."""

    def forward(self, t):
        return t.permute(0, 2, 3, 1).flatten(1) if t.dim() == 4 else t.flatten(1)


class Counted(torch.nn.Module):
    """`net`, counting the rows it is called on (`forwards`) and those whose input requires a
    gradient (`backwards`: fra31 enables the input's gradient only to take it)."""

    def __init__(self, net):
        super().__init__()
        self.net = net
        self.forwards = 0
        self.backwards = 0
        self.eval()

    def train(self, mode: bool = True):
        """Always inference: torchattacks restores the `training` flag it found on the module
        after each attack, which would switch BatchNorm to batch statistics from then on."""
        return super().train(False)

    def forward(self, t):
        self.forwards += t.shape[0]
        if torch.is_grad_enabled() and t.requires_grad:
            self.backwards += t.shape[0]
        return self.net(t)


def nchw(x) -> torch.Tensor:
    return torch.from_numpy(
        np.ascontiguousarray(np.transpose(np.asarray(x, np.float32), (0, 3, 1, 2)))
    )


def predict(net, x) -> np.ndarray:
    """`net`'s classes for NHWC images `x`."""
    with torch.no_grad():
        return net(nchw(x)).argmax(1).numpy()


def nhwc(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(t.detach().numpy(), (0, 2, 3, 1)))


class Graph(torch.nn.Module):
    """A Keras functional model's graph, run in PyTorch: one module per layer, in the model's
    own topological order, each fed the tensors its Keras node was fed."""

    def __init__(self, model):
        super().__init__()
        if hasattr(model, "_functional"):  # keras.Sequential keeps its graph there
            model = model._functional
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(
                "The PyTorch copy takes models with one input and one output. Received: "
                f"{len(model.inputs)} inputs, {len(model.outputs)} outputs"
            )
        self.input_id, self.output_id = id(model.inputs[0]), id(model.outputs[0])
        self.steps = []  # (module name, input tensor ids, output tensor id), in graph order
        for i, (layer, node) in enumerate(_nodes_to(model.outputs[0])):
            if type(layer).__name__ == "InputLayer":
                continue
            if len(node.outputs) != 1:
                raise _unsupported(layer, "layers with several outputs are not copied")
            modules = _convert(layer, tuple(node.input_tensors[0].shape[1:]))
            name = f"layer{i}"
            # Several inputs go to the one module that takes them (Add); else a chain of modules.
            self.add_module(
                name, modules[0] if len(modules) == 1 else torch.nn.Sequential(*modules)
            )
            self.steps.append((name, [id(t) for t in node.input_tensors], id(node.outputs[0])))

    def forward(self, t):
        values = {self.input_id: t}
        for name, inputs, output in self.steps:
            values[output] = getattr(self, name)(*(values[i] for i in inputs))
        return values[self.output_id]


def _nodes_to(tensor) -> list:
    """The `(layer, node)` calls that compute a Keras symbolic `tensor`, inputs first.

    Found from the tensor back through each node's inputs (`_keras_history`), so that calls a
    layer made outside this graph (a loaded Sequential keeps some) are left out."""
    order, seen, stack = [], set(), [(tensor, False)]
    while stack:
        t, inputs_done = stack.pop()
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        if id(node) in seen and not inputs_done:
            continue
        if inputs_done:
            order.append((layer, node))
            continue
        seen.add(id(node))
        stack.append((t, True))
        stack.extend((u, False) for u in reversed(node.input_tensors))
    return order


def to_torch(model, x=None, *, rtol: float = 1e-4) -> torch.nn.Module:
    """A `torch.nn.Module` on NCHW input computing the Keras model's logits.

    With `x` (NHWC images), checks that both give the same logits (to `rtol` of their largest
    magnitude) and raises `ValueError` naming the gap if they do not.
    """
    net = Graph(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    if x is not None:
        with torch.no_grad():
            copied = net(nchw(x)).numpy()
        logits = np.asarray(model(x, training=False))
        gap = float(np.max(np.abs(copied - logits)))
        allowed = rtol * (1.0 + float(np.max(np.abs(logits))))
        if not gap <= allowed:
            raise ValueError(
                f"The PyTorch copy of {model.name!r} disagrees with it: max |logit gap| {gap:.3g}, "
                f"expected ≤ {allowed:.3g}. Received: model={model.name!r}"
            )
    return net


class Sum(torch.nn.Module):
    """Keras' `Add`: the sum of its inputs."""

    def forward(self, *tensors):
        return sum(tensors[1:], tensors[0])


class Standardize(torch.nn.Module):
    """`tfls.models.layers.Standardize` on NCHW tensors."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1))

    def forward(self, t):
        return (t - self.mean) / self.std


def _same_padding(size, kernel, stride):
    """TensorFlow's 'same' padding along one axis: `(before, after)`, the extra pixel after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _activation(layer) -> list:
    fn = getattr(layer, "activation", None)
    name = getattr(fn, "__name__", fn)
    if name in (None, "linear"):
        return []
    if name == "relu":
        return [torch.nn.ReLU()]
    raise ValueError(
        f"No PyTorch copy of activation {name!r} (layer {layer.name!r}); expected relu or "
        f"linear. Received: {name!r}"
    )


def _unsupported(layer, why: str):
    return ValueError(
        f"No PyTorch copy of layer {layer.name!r} ({type(layer).__name__}): {why}. "
        f"Received: {layer.get_config()}"
    )


def _convert(layer, shape) -> list:
    """The torch modules for one Keras layer fed an NHWC (or flat) tensor of `shape`."""
    kind = type(layer).__name__
    if kind == "Dropout":
        return [torch.nn.Identity()]
    if kind == "Conv2D":
        kernel, *bias = layer.get_weights()
        kh, kw, cin, cout = kernel.shape
        strides = tuple(layer.strides)
        if tuple(layer.dilation_rate) != (1, 1) or layer.groups != 1:
            raise _unsupported(layer, "dilated or grouped convolutions are not copied")
        conv = torch.nn.Conv2d(cin, cout, (kh, kw), stride=strides, bias=bool(bias))
        conv.weight.data = torch.from_numpy(np.transpose(kernel, (3, 2, 0, 1)).copy())
        if bias:
            conv.bias.data = torch.from_numpy(bias[0].copy())
        modules = [conv, *_activation(layer)]
        if layer.padding == "same":
            top, bottom = _same_padding(shape[0], kh, strides[0])
            left, right = _same_padding(shape[1], kw, strides[1])
            modules.insert(0, torch.nn.ZeroPad2d((left, right, top, bottom)))
        return modules
    if kind == "Dense":
        kernel, *bias = layer.get_weights()
        dense = torch.nn.Linear(kernel.shape[0], kernel.shape[1], bias=bool(bias))
        dense.weight.data = torch.from_numpy(kernel.T.copy())
        if bias:
            dense.bias.data = torch.from_numpy(bias[0].copy())
        return [dense, *_activation(layer)]
    if kind == "MaxPooling2D":
        if layer.padding != "valid":
            raise _unsupported(layer, "only 'valid' pooling is copied")
        return [torch.nn.MaxPool2d(tuple(layer.pool_size), stride=tuple(layer.strides))]
    if kind == "Flatten":
        return [FlattenNHWC()]
    if kind == "GlobalAveragePooling2D":
        return [torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()]
    if kind == "ReLU":
        return [torch.nn.ReLU()]
    if kind == "Activation":
        return _activation(layer) or [torch.nn.Identity()]
    if kind == "Add":
        return [Sum()]
    if kind == "Standardize":
        channels = shape[-1]
        mean = np.broadcast_to(layer.mean, (channels,)).astype(np.float32)
        std = np.broadcast_to(layer.std, (channels,)).astype(np.float32)
        return [Standardize(mean, std)]
    if kind == "BatchNormalization":
        stats = {w.path.split("/")[-1]: np.asarray(w) for w in layer.weights}
        n = len(stats["moving_mean"])
        norm = (torch.nn.BatchNorm2d if len(shape) == 3 else torch.nn.BatchNorm1d)(
            n, eps=layer.epsilon
        )
        norm.weight.data = torch.from_numpy(stats.get("gamma", np.ones(n, np.float32)).copy())
        norm.bias.data = torch.from_numpy(stats.get("beta", np.zeros(n, np.float32)).copy())
        norm.running_mean.data = torch.from_numpy(stats["moving_mean"].copy())
        norm.running_var.data = torch.from_numpy(stats["moving_variance"].copy())
        return [norm.eval()]
    raise _unsupported(
        layer,
        "the PyTorch copy takes Conv2D, Dense, MaxPooling2D, Flatten, GlobalAveragePooling2D, "
        "ReLU, Activation, Add, BatchNormalization, Dropout and tfls' Standardize",
    )


def _configure(adversary, name, overrides) -> None:
    """tfls' budgets (`SETTINGS` with `overrides`) on fra31's attack objects for `name`."""
    # fra31 runs APGD-CE and APGD-DLR on one object, its loss set per call.
    apgd = spec("apgd-dlr" if name == "apgd-dlr" else "apgd-ce", overrides)
    apgd_t, fab, square = (spec(c, overrides) for c in ("apgd-t", "fab-t", "square"))
    adversary.apgd.n_iter, adversary.apgd.n_restarts = apgd["steps"], apgd["restarts"]
    adversary.apgd_targeted.n_iter = apgd_t["steps"]
    adversary.apgd_targeted.n_restarts = apgd_t["restarts"]
    adversary.apgd_targeted.n_target_classes = apgd_t["n_targets"]
    adversary.fab.n_iter, adversary.fab.n_restarts = fab["steps"], fab["restarts"]
    adversary.fab.n_target_classes = fab["n_targets"]
    adversary.square.n_queries, adversary.square.p_init = square["n_queries"], square["p_init"]
    adversary.square.n_restarts = square["restarts"]


def run_fra31(net, name, x, y, *, eps, seed=0, overrides=None):
    """fra31's component `name` (or its whole standard AutoAttack) on NHWC `(x, y)` at L∞ `eps`:
    `(x_adv NHWC, seconds)`. `net` is a module from `to_torch` (or `Counted` around one). `run`
    checks `name`."""
    from autoattack import AutoAttack

    adversary = AutoAttack(
        net, norm="Linf", eps=float(eps), version="standard", seed=seed, verbose=False, device="cpu"
    )
    _configure(adversary, name, overrides)
    adversary.attacks_to_run = list(STANDARD) if name == FULL else [name]
    xt, yt = nchw(x), torch.from_numpy(np.asarray(y, np.int64))
    t0 = time.perf_counter()
    x_adv = adversary.run_standard_evaluation(xt, yt, bs=len(xt))
    return nhwc(x_adv), time.perf_counter() - t0


def run_torchattacks(net, name, x, y, *, eps, seed=0, overrides=None):
    """torchattacks' component `name` (or standard AutoAttack) on NHWC `(x, y)`: `(x_adv, s)`.

    Built from its parts with tfls' budgets: torchattacks' own AutoAttack class with
    `version="standard"` keeps its classes' 10-step defaults, a tenth of the reference's budget.
    Targets: its `n_classes` is n_targets + 1 (it attacks the n_classes − 1 runners-up); Square
    without step-size rescaling, as fra31's AutoAttack runs it.
    """
    import torchattacks as ta

    def build(component):
        s = spec(component, overrides)
        common = {"norm": "Linf", "eps": float(eps), "seed": seed}
        if component in ("apgd-ce", "apgd-dlr"):
            return ta.APGD(
                net, steps=s["steps"], n_restarts=s["restarts"], loss=s["loss"], **common
            )
        if component == "apgd-t":
            return ta.APGDT(
                net,
                steps=s["steps"],
                n_restarts=s["restarts"],
                n_classes=s["n_targets"] + 1,
                **common,
            )
        if component == "fab-t":
            return ta.FAB(
                net, steps=s["steps"], n_restarts=s["restarts"], multi_targeted=True,
                n_classes=s["n_targets"] + 1, **common,
            )  # fmt: skip
        return ta.Square(
            net, n_queries=s["n_queries"], n_restarts=s["restarts"], p_init=s["p_init"],
            resc_schedule=False, **common,
        )  # fmt: skip

    attack = ta.MultiAttack([build(c) for c in STANDARD]) if name == FULL else build(name)
    xt, yt = nchw(x), torch.from_numpy(np.asarray(y, np.int64))
    t0 = time.perf_counter()
    x_adv = attack(xt, yt)
    return nhwc(x_adv), time.perf_counter() - t0
