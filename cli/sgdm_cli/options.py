"""Options shared by the commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Mapping, Optional

import typer

Strategy = Annotated[str, typer.Option("--strategy", "-s", help="Strategy: baseline, i, ii, iii, warmup or seesaw (aliases: const-bs-decay-lr, incr-bs-decay-lr, incr-bs-incr-lr).")]
Problem = Annotated[str, typer.Option(help="Model to train: logreg (logistic regression) or mlp.")]
Dataset = Annotated[str, typer.Option(help="digits (default), breast-cancer, synthetic, or a file: .npz (X, y), .svm/.libsvm/.svmlight, .csv.")]
Epochs = Annotated[int, typer.Option(help="Number of epochs E; stages and warm-up scale with it (E/10).")]
Seed = Annotated[int, typer.Option(help="Seed of the initial parameters and the shuffles.")]
Variant = Annotated[Optional[str], typer.Option(help="Momentum convention: nshb (default) or shb.")]
Backend = Annotated[str, typer.Option(help="Optimizer backend: auto, rust, numpy (CPU, bit-identical) or cupy (GPU: needs CuPy and a CUDA device; pip install 'sgdm\\[gpu]').")]
Config = Annotated[Optional[Path], typer.Option(help="Run configuration file: the paper's JSON format or sgdm's spec (JSON/TOML).")]
Json = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")]
Out = Annotated[Optional[Path], typer.Option(help="Write the per-epoch history to FILE (.jsonl or .csv).")]
Plot = Annotated[Optional[Path], typer.Option(help="Save the paper-style figure to FILE (.png, .pdf, .svg).")]
Cluster = Annotated[Optional[str], typer.Option("--cluster", help="Run on a Dask cluster: tcp://host:8786 (a running scheduler) or local:N (start N local workers); needs pip install 'sgdm-cli\\[cluster]'.")]
Target = Annotated[float, typer.Option(help="Target ‖∇f‖² for the steps / SFO needed to reach it.")]

# Schedule and optimizer overrides, in the strategies' vocabulary.
InitLr = Annotated[Optional[float], typer.Option("--init-lr", help="Initial learning rate η0.")]
LrMax = Annotated[Optional[float], typer.Option("--lr-max", help="Largest learning rate η_max (iii, warmup).")]
LrMin = Annotated[Optional[float], typer.Option("--lr-min", help="Final learning rate of cosine decays.")]
LrFamily = Annotated[Optional[str], typer.Option("--lr-family", help="Decay for i / ii: cosine, diminishing, linear, poly (ii: also constant).")]
AfterWarmup = Annotated[Optional[str], typer.Option("--after-warmup", help="After the warm-up: cosine or constant.")]
Power = Annotated[Optional[float], typer.Option(help="Power of the poly decay.")]
InitBs = Annotated[Optional[int], typer.Option("--init-bs", help="Initial batch size b0.")]
BsMax = Annotated[Optional[int], typer.Option("--bs-max", help="Batch-size cap b_max (reached in the last stage).")]
BsGrowth = Annotated[Optional[float], typer.Option("--bs-growth", help="Batch growth factor δ per stage.")]
DecayFactor = Annotated[Optional[float], typer.Option("--decay-factor", help="seesaw: the step decay's cut α in (0, 1) per stage (default 0.5); seesaw uses η·√α and b/α instead (η·α once b is capped).")]
Interval = Annotated[Optional[int], typer.Option("--incr-interval", help="Stage length E_inc in epochs.")]
WarmupEpochs = Annotated[Optional[int], typer.Option("--warmup-epochs", help="Warm-up length W in epochs.")]
WarmupInterval = Annotated[Optional[int], typer.Option("--warmup-interval", help="Warm-up growth interval w in epochs.")]
Momentum = Annotated[Optional[float], typer.Option(help="Momentum β (default 0.9, or 0.87 when η_max/η0 ≥ 10).")]

# Model, data and optimizer details.
Hidden = Annotated[str, typer.Option(help="MLP hidden layer sizes, comma-separated.")]
Activation = Annotated[str, typer.Option(help="MLP activation: relu or tanh.")]
L2 = Annotated[float, typer.Option(help="L2 penalty of the model's weights (part of f).")]
Dtype = Annotated[str, typer.Option(help="float64 or float32.")]
Nesterov = Annotated[bool, typer.Option("--nesterov", help="Nesterov momentum (SHB buffers).")]
WeightDecay = Annotated[float, typer.Option("--weight-decay", help="Optimizer L2 weight decay λ.")]
NSamples = Annotated[Optional[int], typer.Option("--n-samples", help="synthetic: number of samples.")]
NFeatures = Annotated[Optional[int], typer.Option("--n-features", help="synthetic: number of features.")]
NClasses = Annotated[Optional[int], typer.Option("--n-classes", help="synthetic: number of classes.")]
LabelColumn = Annotated[Optional[str], typer.Option("--label-column", help="CSV: label column (name or index).")]
TestSize = Annotated[float, typer.Option("--test-size", help="Held-out fraction of the data.")]
DataSeed = Annotated[int, typer.Option("--data-seed", help="Seed of the train/test split (fixed across --seed).")]
Checkpoint = Annotated[Optional[Path], typer.Option(help="Save the whole run state to DIR every --checkpoint-every epochs (atomically).")]
CheckpointEvery = Annotated[int, typer.Option("--checkpoint-every", help="Epochs between checkpoints.")]
Resume = Annotated[Optional[Path], typer.Option(help="Continue the run saved in DIR (its settings come from the checkpoint).")]
RecordEvery = Annotated[int, typer.Option("--record-every", help="Evaluate the full-batch metrics every K epochs.")]


#: Command parameter -> strategy setting (sgdm.strategies.get's vocabulary).
OVERRIDES = {
    "variant": "variant", "init_lr": "init_lr", "lr_max": "lr_max", "lr_min": "lr_min",
    "lr_family": "lr_family", "after_warmup": "after_warmup", "power": "power",
    "init_bs": "init_bs", "bs_max": "bs_max", "bs_growth": "bs_growth_rate",
    "decay_factor": "decay_factor",
    "incr_interval": "incr_interval", "warmup_epochs": "warmup_epochs",
    "warmup_interval": "warmup_interval", "momentum": "momentum",
}


def overrides(params: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy settings among a command's parameters that the user actually gave (None
    means: keep the strategy's default)."""
    return {OVERRIDES[k]: v for k, v in params.items() if k in OVERRIDES and v is not None}


def problem_options(problem: str, hidden: str, activation: str, l2: float) -> dict[str, Any]:
    opts: dict[str, Any] = {"l2": l2}
    if problem == "mlp":
        try:
            sizes = tuple(int(h) for h in hidden.split(",") if h.strip())
        except ValueError:
            sizes = ()
        if not sizes or min(sizes) < 1:  # no hidden layer at all would be logreg under another name
            raise ValueError(f"--hidden {hidden!r} is invalid: expected sizes >= 1 like 64 or 128,64")
        opts.update(hidden=sizes, activation=activation)
    return opts


def dataset_options(**values: Any) -> dict[str, Any]:
    opts = {k: v for k, v in values.items() if v is not None}
    if "label_column" in opts and opts["label_column"].lstrip("-").isdigit():
        opts["label_column"] = int(opts["label_column"])
    return opts
