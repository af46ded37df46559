"""`tfls train`: train a model with label smoothing, Madry adversarial training or TRADES.

Writes a run folder (`model.keras`, `run.json`, `config.json`, `checkpoints/`, `logs/`); `--resume`
continues an interrupted run from its last checkpoint.
"""

from __future__ import annotations

import sys


def add_parser(sub):
    p = sub.add_parser(
        "train",
        help="Train natural / label-smoothed / Madry / TRADES models into a run folder.",
        description="Trains --model on --dataset with --method and label smoothing α, using the "
        "papers' hyper-parameters unless overridden, and writes a run folder to --out "
        "(model.keras, run.json, checkpoints/, TensorBoard logs/).",
    )
    p.add_argument("--dataset", help="mnist, fashion_mnist, cifar10 or cifar100")
    p.add_argument("--model", help="cnn4, small-cnn, wrn-<depth>-<width>, preact-resnet18, ...")
    p.add_argument("--method", default=None, help="natural (default), madry or trades")
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=None,
        metavar="A",
        help="label smoothing α in [0, 1) of the cross-entropy (default 0)",
    )
    p.add_argument("--epochs", type=int, default=None, help="default: the paper's for the method")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument(
        "--eps",
        default=None,
        help="ε of the inner attack, e.g. 8/255 (default 8/255 CIFAR, 0.3 MNIST-like)",
    )
    p.add_argument("--attack-steps", type=int, default=None, help="inner attack steps")
    p.add_argument("--attack-step-size", default=None, help="inner attack step size, e.g. 2/255")
    p.add_argument(
        "--beta", type=float, default=None, help="TRADES β (default 6 CIFAR, 1 MNIST-like)"
    )
    p.add_argument("--batch-size", type=int, default=None, help="global batch size")
    p.add_argument("--lr", type=float, default=None, help="initial learning rate")
    p.add_argument("--optimizer", default=None, help="sgd or adam")
    p.add_argument("--weight-decay", type=float, default=None)
    p.add_argument(
        "--limit", type=int, default=None, help="use the first N train (and test) images"
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of initialisation, data order, attacks"
    )
    p.add_argument("--data-dir", default=None, help="offline data folder (default: $TFLS_DATA_DIR)")
    p.add_argument(
        "--strategy",
        default="auto",
        help="auto (default), one_device, mirrored or multi_worker (TF_CONFIG)",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="continue the run in --out")
    group.add_argument("--overwrite", action="store_true", help="replace the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--no-determinism",
        dest="deterministic",
        action="store_false",
        help="do not enable TensorFlow's op determinism (on by default: same seed, same weights)",
    )
    p.set_defaults(run=run)


def config_from_args(args):
    """The `TrainConfig` the flags describe (the saved one when resuming without flags)."""
    from tfls._validation import parse_eps
    from tfls.training import TrainConfig

    overrides = {
        "method": args.method,
        "label_smoothing": args.label_smoothing,
        "epochs": args.epochs,
        "eps": None if args.eps is None else parse_eps(args.eps),
        "attack_steps": args.attack_steps,
        "attack_step_size": None
        if args.attack_step_size is None
        else parse_eps(args.attack_step_size),
        "trades_beta": args.beta,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "optimizer": args.optimizer,
        "weight_decay": args.weight_decay,
        "limit": args.limit,
    }
    given = {k: v for k, v in overrides.items() if v is not None}
    if args.dataset is None and args.model is None and args.resume:
        if given:
            raise ValueError(
                f"With --resume and no --dataset/--model the saved configuration is used; drop "
                f"{', '.join('--' + k.replace('_', '-') for k in given)}. Received: {given}"
            )
        from tfls.training.run_folder import read_config

        saved = TrainConfig.from_dict(read_config(args.out))
        return saved if args.data_dir is None else saved.replace(data_dir=args.data_dir)
    for flag in ("dataset", "model"):
        if getattr(args, flag) is None:
            raise ValueError(f"--{flag} is required (unless resuming). Received: {flag}=None")
    given.setdefault("method", "natural")
    given.setdefault("label_smoothing", 0.0)
    return TrainConfig(args.dataset, args.model, seed=args.seed, data_dir=args.data_dir, **given)


def run(args) -> int:
    from tfls import distribute
    from tfls.io import resolve_out
    from tfls.names import method_label
    from tfls.training import train

    distribute.check_name(args.strategy)
    args.out = resolve_out(args.out, name="--out")  # once, at the edge: relative paths included
    config = config_from_args(args)
    config.resolved()  # every bad flag is reported before any data is read
    result = train(
        config,
        args.out,
        resume=args.resume,
        overwrite=args.overwrite,
        strategy=args.strategy,
        verbose=0 if args.quiet else 1,
        deterministic=args.deterministic,
    )
    run_info = result.run
    stats = run_info["logit_stats"]
    print(
        f"{run_info['dataset']} {run_info['model']} {method_label(run_info)}: "
        f"clean accuracy {run_info['clean_accuracy']:.4f}, logits in [{stats['min']:.3g}, "
        f"{stats['max']:.3g}], mean top-1 margin {stats['mean_margin']:.3g}, "
        f"{run_info['wall_time_s']:.0f}s training; wrote {result.out}",
        file=sys.stdout,
    )
    return 0
