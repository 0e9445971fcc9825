"""The `sgdm` command, driven through Typer's test runner and its --json output."""

import csv
import json

import numpy as np
import pytest

typer_testing = pytest.importorskip("typer.testing")
from sgdm_cli.app import app  # noqa: E402

runner = typer_testing.CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def run_json(*args):
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_run_prints_history_and_rate_as_json():
    data = run_json("run", "--strategy", "warmup", "--epochs", "12", "--seed", "3")
    history = data["history"]
    assert [r["epoch"] for r in history] == list(range(13))
    # 12 epochs -> stages of 1 epoch (E/10 rounded), batch 8 doubling each epoch from epoch 0.
    assert history[1]["batch_size"] == 8 and history[2]["batch_size"] == 16
    assert all(r["sfo"] == r["epoch"] * data["dataset"]["n_train"] for r in history)
    summary = data["summary"]
    mins = [r["grad_norm_sq_min"] for r in history]
    assert summary["grad_norm_sq_min"] == min(r["grad_norm_sq"] for r in history) == mins[-1]
    assert summary["slope_steps"] < 0
    assert data["strategy"]["name"] == "warmup" and data["spec"]["seed"] == 3


def test_run_is_deterministic_and_backends_agree():
    a = run_json("run", "--strategy", "iii", "--epochs", "5", "--backend", "rust")["history"]
    b = run_json("run", "--strategy", "iii", "--epochs", "5", "--backend", "numpy")["history"]
    drop = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]  # noqa: E731
    assert drop(a) == drop(b)


def test_run_table_output_and_files(tmp_path):
    out, fig = tmp_path / "h.csv", tmp_path / "f.png"
    result = invoke("run", "--strategy", "ii", "--problem", "mlp", "--hidden", "16", "--epochs", "4",
                    "--out", out, "--plot", fig)
    assert result.exit_code == 0, result.stderr
    assert "selected epochs" in result.stdout and "Convergence" in result.stdout
    rows = list(csv.DictReader(out.open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]
    assert fig.stat().st_size > 10_000 and fig.read_bytes()[:4] == b"\x89PNG"


PAPER_CONFIG = {
    "optimizer": "shb", "model": "resnet18", "bs_method": "exp_growth", "lr_method": "warmup_const",
    "init_bs": 8, "init_lr": 0.01, "init_beta": 0.87, "lr_max": 0.1, "epochs": 4,
    "incr_interval": 2, "warmup_epochs": 2, "warmup_interval": 1, "bs_growth_rate": 2.0,
    "use_wandb": True}


def test_run_accepts_paper_config(tmp_path):
    cfg = tmp_path / "paper.json"
    cfg.write_text(json.dumps(PAPER_CONFIG))
    data = run_json("run", "--config", cfg)
    hist = data["history"]
    assert [r["batch_size"] for r in hist[1:]] == [8, 8, 16, 16]
    assert hist[-1]["lr"] == pytest.approx(0.1)


def test_compare_rate_table_json(tmp_path):
    out = tmp_path / "all.jsonl"
    data = run_json("compare", "--strategies", "i,iii", "--seeds", "2", "--jobs", "2",
                    "--epochs", "6", "--out", out, "--target", "1e-2")
    names = [r["strategy"] for r in data["strategies"]]
    assert names == ["i", "iii"]
    for row in data["strategies"]:
        assert row["seeds"] == 2 and row["failed"] == 0
        assert row["theory_order"]
        assert row["slope_steps_std"] >= 0
    assert len(data["runs"]) == 4
    claims = data["theory_agreement"]["claims"]
    assert any("(iii) decays faster than (i)" == c["claim"] for c in claims)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4 * 7 and {l["seed"] for l in lines} == {0, 1}


def notes(*args):
    """The `note:` lines of a --json command on stderr; its stdout must stay one JSON document."""
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.stderr
    json.loads(result.stdout)
    assert "note:" not in result.stdout
    return [line for line in result.stderr.splitlines() if line.startswith("note:")]


@pytest.mark.parametrize(
    "args, note",
    [
        (["--strategy", "i", "--lr-max", "3", "--decay-factor", "0.3"],
         "note: --lr-max, --decay-factor do not apply to strategy i (ignored)"),
        # lr_min is the floor of a cosine decay: a poly decay has none.
        (["--strategy", "ii", "--lr-family", "poly", "--lr-min", "0.01", "--power", "3"],
         "note: --lr-min does not apply to strategy ii (ignored)"),
        (["--strategy", "baseline", "--hidden", "16", "--activation", "tanh", "--incr-interval", "1"],
         "note: --incr-interval does not apply to strategy baseline; "
         "--hidden, --activation do not apply to problem logreg (ignored)"),
        (["--strategy", "seesaw", "--bs-growth", "4", "--decay-factor", "0.25"],
         "note: --bs-growth does not apply to strategy seesaw (ignored)"),
        # No checkpoint was written, and nothing said so.
        (["--checkpoint-every", "1"], "note: --checkpoint-every does not apply without --checkpoint (ignored)"),
    ],
)
def test_run_notes_the_options_that_do_not_apply_in_one_line(args, note):
    assert notes("run", "--epochs", "2", *args) == [note]


@pytest.mark.parametrize(
    "args",
    [
        ["--strategy", "seesaw", "--decay-factor", "0.3"],
        ["--strategy", "warmup", "--lr-max", "1"],
        ["--strategy", "i", "--lr-min", "0.01", "--init-bs", "64", "--momentum", "0.8"],
        ["--strategy", "ii", "--lr-family", "poly", "--power", "3"],
        ["--strategy", "iii", "--problem", "mlp", "--hidden", "8", "--l2", "0.001", "--test-size", "0.3"],
        ["--strategy", "i"],  # defaults of options that do not apply (--hidden, --lr-max) are not given
    ],
)
def test_run_is_silent_when_every_given_option_applies(args):
    assert notes("run", "--epochs", "2", *args) == []


def test_run_with_a_config_file_notes_what_the_file_replaces(tmp_path):
    cfg = tmp_path / "paper.json"
    cfg.write_text(json.dumps(PAPER_CONFIG))
    assert notes("run", "--config", cfg, "--momentum", "0.5", "--epochs", "9") == [
        f"note: --epochs does not apply to --config {cfg} (ignored)"]
    assert notes("run", "--config", cfg, "--variant", "nshb") == []


def test_schedule_notes_the_options_that_do_not_apply():
    # schedule showed the plan without --warmup-interval and said nothing, as run and compare do.
    args = ("schedule", "--n-samples", "1000")
    assert notes(*args, "--strategy", "iii", "--warmup-interval", "2", "--lr-family", "linear") == [
        "note: --lr-family, --warmup-interval do not apply to strategy iii (ignored)"]
    # Its --n-samples is the training-set size n, which every plan uses (not synthetic's size).
    assert notes(*args, "--strategy", "warmup", "--warmup-interval", "2") == []


def test_compare_notes_only_options_that_apply_to_none_of_its_strategies():
    args = ("compare", "--strategies", "i,seesaw", "--seeds", "1", "--jobs", "1", "--epochs", "2")
    # --decay-factor is seesaw's, --init-bs everyone's; --lr-max applies to neither.
    assert notes(*args, "--decay-factor", "0.3", "--init-bs", "16", "--lr-max", "2") == [
        "note: --lr-max does not apply to strategies i, seesaw (ignored)"]
    assert notes(*args, "--decay-factor", "0.3", "--lr-family", "linear") == []


def test_schedule_noise_scale_halves_with_each_batch_doubling():
    # Smith et al.: g = η n / b for NSHB, η n / (b (1 - β)) for SHB.
    data = run_json("schedule", "--strategy", "ii", "--n-samples", "50000", "--lr-family", "constant")
    stages = data["stages"]
    assert stages[0]["noise_first"] == pytest.approx(0.1 * 50000 / 8)
    for a, b in zip(stages, stages[1:]):
        assert b["noise_first"] == pytest.approx(a["noise_last"] / 2)
    shb = run_json("schedule", "--strategy", "baseline", "--n-samples", "1000", "--variant", "shb")
    row = shb["stages"][0]
    assert row["noise_first"] == pytest.approx(row["lr_first"] * 1000 / (128 * (1 - 0.9)))


def test_schedule_seesaw_trades_the_step_decay_for_batch_growth():
    # α = 1/4: per stage η × 1/2 and b × 4, so the noise scale η·n/b falls by α^(3/2) = 1/8 per
    # stage (the step decay's by α), while η²/b falls by α², as the step decay's does.
    alpha, n = 0.25, 50_000
    data = run_json("schedule", "--strategy", "seesaw", "--epochs", "40", "--decay-factor", alpha,
                    "--n-samples", n)
    stages = data["stages"]
    # Stages of round(40/10) = 4 epochs; b reaches n (and stays) at epoch 28, so 8 stages remain.
    assert [s["first_epoch"] for s in stages] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert [s["batch_size"] for s in stages] == [8 * 4**k for k in range(7)] + [n]
    assert stages[0]["noise_first"] == pytest.approx(0.1 * n / 8)
    for a, b in zip(stages[:6], stages[1:7]):
        assert b["lr_first"] == pytest.approx(a["lr_last"] * alpha**0.5)
        assert b["noise_first"] == pytest.approx(a["noise_last"] * alpha**1.5)
        assert b["lr_first"] ** 2 / b["batch_size"] == pytest.approx(a["lr_first"] ** 2 / a["batch_size"] * alpha**2)
    assert data["strategy"]["theory"]["vanishes"] is None
    assert data["strategy"]["params"]["decay_factor"] == alpha


def test_run_seesaw_trains():
    data = run_json("run", "--strategy", "seesaw", "--epochs", "6")
    history = data["history"]
    # Stages of round(6/10) = 1 epoch: b doubles and η shrinks by √2 every epoch.
    assert [r["batch_size"] for r in history[1:]] == [8, 16, 32, 64, 128, 256]
    assert [r["lr"] for r in history[1:]] == pytest.approx([0.1 * 0.5 ** (e / 2) for e in range(6)])
    assert history[-1]["grad_norm_sq_min"] < history[0]["grad_norm_sq"]
    assert data["strategy"]["name"] == "seesaw"


def test_schedule_stages_json():
    data = run_json("schedule", "--strategy", "iii", "--n-samples", "50000")
    stages = data["stages"]
    assert [s["batch_size"] for s in stages] == [8 * 2**k for k in range(10)]
    assert data["totals"]["total_steps"] == sum(s["steps"] for s in stages)
    assert stages[0]["steps"] == 30 * 6250
    assert stages[-1]["lr_last"] == pytest.approx(0.5)


def test_help_explains_every_strategy():
    for command in ("run", "compare", "schedule"):
        result = invoke(command, "--help")
        assert result.exit_code == 0
        for needle in ("baseline", "(i) constant batch", "(ii) increasing batch", "(iii) increasing batch", "warm-up", "Seesaw"):
            assert needle in result.stdout, (command, needle)


def test_help_keeps_the_brackets_of_install_extras():
    # rich reads "[gpu]" as markup and drops it unless escaped: the help would say "pip install 'sgdm'".
    assert "sgdm[gpu]" in invoke("run", "--help").stdout
    assert "sgdm-cli[cluster]" in invoke("compare", "--help").stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--strategy", "adam"], "unknown strategy 'adam'"),
        (["run", "--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["run", "--problem", "svm"], "unknown problem 'svm'"),
        (["run", "--dataset", "missing.npz"], "missing.npz"),
        (["run", "--dataset", "data.xyz"], "data.xyz"),
        # The library's keyword names are said as the options typed (``lr_max = -1`` is --lr-max -1).
        (["run", "--lr-max", "-1", "--epochs", "2"], "error: --lr-max -1 is invalid"),
        (["run", "--epochs", "0"], "error: --epochs 0 is invalid"),
        (["schedule", "--strategy", "seesaw", "--decay-factor", "1.5"], "error: --decay-factor 1.5 is invalid"),
        (["compare", "--strategies", "i,bogus"], "unknown strategy 'bogus'"),
        (["schedule", "--strategy", "warmup", "--warmup-epochs", "500", "--epochs", "10"],
         "error: --warmup-epochs 500 is invalid: expected an integer <= --epochs 10"),
        (["schedule", "--strategy", "iii", "--bs-growth", "nan"], "error: --bs-growth NaN is invalid"),
        (["run", "--n-samples", "100"], "error: digits: --n-samples cannot be used here: it applies to the synthetic data set"),
        (["compare", "--dataset", "synthetic", "--n-samples", "10", "--n-classes", "1"], "error: --n-classes 1 is invalid"),
        # --data-seed -1 was refused as "seed = -1": the split's seed, not the run's.
        (["run", "--data-seed", "-1"], "error: --data-seed -1 is invalid"),
        (["run", "--seed", "-1", "--epochs", "2"], "error: --seed -1 is invalid"),
        # Settings the engine checks were refused after the run's header and progress bar.
        (["run", "--weight-decay", "-1"], "error: --weight-decay -1.0 is invalid"),
        (["run", "--nesterov"], "error: --nesterov is invalid with --variant 'nshb'"),
        (["compare", "--problem", "mlp", "--activation", "sigmoid"], "error: --activation 'sigmoid' is invalid"),
        # An empty --hidden trained an MLP without hidden layers: logreg under another name.
        (["run", "--problem", "mlp", "--hidden", ""], "error: --hidden '' is invalid"),
        (["run", "--problem", "mlp", "--hidden", "64,0"], "error: --hidden '64,0' is invalid"),
        # Said only after loading the data and checking every strategy (with their warnings).
        (["compare", "--resume", "--epochs", "2"], "error: --resume needs --out FILE"),
        (["run", "--config", "."], "error: cannot read --config .: it is a folder"),  # was "no such file"
    ],
)
def test_bad_input_is_one_red_line_and_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().startswith("error:") and len(result.stderr.strip().splitlines()) == 1


def test_bad_config_and_outputs_leave_no_file(tmp_path):
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"optimizer": "nshb", "bs_method": "constant", "lr_method": "cosine",
                               "init_bs": "eight", "init_lr": 0.1, "init_beta": 0.9, "epochs": 3}))
    out = tmp_path / "h.jsonl"
    result = invoke("run", "--config", cfg, "--out", out)
    assert result.exit_code == 2 and "init_bs" in result.stderr
    assert not out.exists()
    result = invoke("run", "--epochs", "2", "--out", tmp_path / "no" / "such" / "dir.jsonl")
    assert result.exit_code == 2 and "does not exist" in result.stderr
    result = invoke("run", "--epochs", "2", "--out", tmp_path / "h.parquet")
    assert result.exit_code == 2 and ".jsonl or .csv" in result.stderr
    assert list(tmp_path.iterdir()) == [cfg]


def test_broken_data_file_is_refused(tmp_path):
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b,label\n1,2,0\n3,x,1\n")
    result = invoke("run", "--dataset", bad, "--epochs", "2")
    assert result.exit_code == 2 and "broken.csv" in result.stderr


def test_csv_with_its_labels_first_points_to_label_column(tmp_path):
    # The labels were taken from the last column, a feature: "labels are not integers ... this
    # looks like a regression target", with no word of --label-column.
    data = tmp_path / "first.csv"
    data.write_text("cls,f0,f1\n" + "".join(f"{k % 2},{k / 7:.3f},{k / 3:.3f}\n" for k in range(40)))
    result = invoke("run", "--dataset", data, "--epochs", "1")
    assert result.exit_code == 2
    assert "taken from the last column 'f1'" in result.stderr and "with --label-column" in result.stderr
    for column in ("cls", "0"):
        assert invoke("run", "--dataset", data, "--label-column", column, "--epochs", "1").exit_code == 0


def _cells(text):
    """Every cell of the tables in ``text``, stripped."""
    return {cell.strip() for line in text.splitlines() for cell in line.split("│")}


def test_tables_keep_every_number_whole_on_a_narrow_terminal(monkeypatch):
    # At 80 columns rich shaved every column to fit: batch 1,024 read "1,0", steps 5,400 "5,"
    # and the noise column vanished. Now the table is split into parts that fit.
    from sgdm_cli import render

    stages = run_json("schedule", "--strategy", "warmup")["stages"]
    monkeypatch.setattr(render.console_out, "width", 80)
    result = invoke("schedule", "--strategy", "warmup")
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    cells = _cells(result.stdout)
    for stage in stages:
        for key in ("first_epoch", "batch_size", "lr_first", "lr_last", "steps", "sfo", "lr_sum",
                    "lr_over_batch_sum", "lr_sq_over_batch_sum"):
            assert render.format_cell(stage[key]) in cells, (key, stage[key])
    assert "noise η·n/b" in result.stdout


def test_narrow_table_keeps_its_text_columns():
    # At 80 columns the rate table of `sgdm compare` lost its strategy and slope columns
    # (squeezed to zero width): the numbers were there, but not which strategy they belong to.
    import io

    from rich.console import Console

    from sgdm_cli.render import table

    rows = [{"strategy": name, "slope": f"-{k}.523 ± 0.0017", "final": 10.0 ** -k, "steps": 10_890 * k}
            for k, name in enumerate(["baseline", "i", "ii", "iii", "warmup"], start=1)]
    columns = [("strategy", "strategy"), ("slope", "slope vs steps"), ("final", "final ‖∇f‖²"),
               ("steps", "steps → ε")] * 3
    console = Console(file=io.StringIO(), width=60)
    console.print(table("rates", rows, columns))
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 60
    cells = _cells(text)
    for row in rows:
        assert row["strategy"] in cells and f"{row['steps']:,}" in cells
    words = set(text.split())
    assert {"-1.523", "±", "0.0017", "1.00e-05"} <= words


def test_resume_accepts_flags_that_repeat_the_checkpoints_settings(tmp_path):
    ck = tmp_path / "ck"
    first = invoke("run", "--strategy", "warmup", "--problem", "mlp", "--hidden", "8", "--epochs", "4",
                   "--checkpoint", ck, "--checkpoint-every", "2")
    assert first.exit_code == 0, first.stderr
    # Writing out a default the run used is repeating it: --init-lr 0.1 was refused as
    # contradicting the checkpoint, "which has None". So was --hidden without --problem mlp.
    again = invoke("run", "--resume", ck, "--init-lr", "0.1", "--lr-max", "0.5", "--momentum", "0.9",
                   "--hidden", "8", "--test-size", "0.2", "--strategy", "warmup", "--json")
    assert again.exit_code == 0, again.stderr
    assert [r["epoch"] for r in json.loads(again.stdout)["history"]] == [0, 1, 2, 3, 4]
    for args, message in [
        (["--lr-max", "0.6"], "--lr-max 0.6 contradicts the checkpoint, which has 0.5"),
        (["--hidden", "16"], "--hidden 16 contradicts the checkpoint, which has 8"),
        (["--test-size", "0.3"], "--test-size 0.3 contradicts the checkpoint, which has 0.2"),
        (["--strategy", "iii"], "--strategy iii contradicts the checkpoint, which has warmup"),
    ]:
        result = invoke("run", "--resume", ck, *args)
        assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_checkpoint_into_a_file_is_refused_before_training(tmp_path):
    # It failed at the first checkpoint, after training, with "[Errno 17] File exists: 'h.csv'".
    taken = tmp_path / "h.csv"
    taken.write_text("a,b\n")
    for folder in (taken, taken / "sub"):
        result = invoke("run", "--epochs", "2", "--checkpoint", folder, "--checkpoint-every", "1")
        assert result.exit_code == 2
        assert result.stderr == f"error: cannot write checkpoints to {folder}: {taken} is a file, not a folder\n"
    assert taken.read_text() == "a,b\n"


def test_figure_draws_each_epochs_batch_size_and_rate_over_that_epoch():
    # Row e holds the batch size and learning rate used during epoch e, i.e. over (e - 1, e];
    # the figure drew them over [e, e + 1): every doubling of the batch one epoch late.
    pytest.importorskip("matplotlib")
    from matplotlib.cbook import STEP_LOOKUP_MAP

    from sgdm_cli.plot import PANELS, figure

    rows = run_json("run", "--strategy", "ii", "--epochs", "30")["history"]
    assert [r["batch_size"] for r in rows[:8]] == [8, 8, 8, 8, 16, 16, 16, 32]
    fig = figure({"ii": rows}, "test")
    for key in ("batch_size", "lr"):
        line = fig.axes[[k for k, _, _ in PANELS].index(key)].lines[0]
        xs, ys = STEP_LOOKUP_MAP[line.get_drawstyle()](*line.get_data())
        for e in range(1, 31):  # the value drawn inside epoch e, halfway through it
            drawn = [y0 for x0, x1, y0, y1 in zip(xs, xs[1:], ys, ys[1:]) if x0 <= e - 0.5 <= x1 and y0 == y1]
            assert drawn == [rows[e][key]], (key, e)


def test_data_file_without_a_known_extension_says_how_to_read_it(tmp_path, monkeypatch):
    # LIBSVM's own files are named a9a or mnist.scale. The command said "unknown dataset 'a9a'"
    # for a file that exists, and for mnist.scale to "pass format='npz'|'svmlight'|'csv'", a
    # keyword of the library that the command does not have.
    monkeypatch.chdir(tmp_path)
    for name in ("a9a", "mnist.scale"):
        (tmp_path / name).write_text("1 1:0.5 2:1\n-1 1:0.2\n1 2:0.3\n-1 1:0.1\n")
        result = invoke("run", "--dataset", name, "--epochs", "1")
        assert result.exit_code == 2
        assert result.stderr.startswith(f"error: {name}: unknown data file type")
        assert "a9a.svm" in result.stderr and "format=" not in result.stderr
    (tmp_path / "a9a").rename(tmp_path / "a9a.svm")
    assert invoke("run", "--dataset", "a9a.svm", "--epochs", "1").exit_code == 0
    (tmp_path / "folder").mkdir()
    result = invoke("run", "--dataset", "folder", "--epochs", "1")
    assert result.exit_code == 2 and result.stderr.startswith("error: folder: is a directory")


def test_loading_the_data_shows_a_spinner_on_a_terminal(monkeypatch):
    # Generating the synthetic set takes seconds (100,000 x 200: about 3 s), with nothing on
    # the screen before the run's header.
    import io

    from rich.console import Console

    import sgdm_cli.app as cli

    screen = io.StringIO()
    monkeypatch.setattr(cli, "console_err", Console(file=screen, force_terminal=True, width=100))
    result = invoke("run", "--dataset", "synthetic", "--n-samples", "300", "--n-features", "5", "--epochs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert "loading synthetic…" in screen.getvalue()


def test_help_text_reflows_to_the_terminal():
    # Typer keeps a docstring's line breaks: at 80 columns the help read "... and the measured
    # rate: the" / "log-log slope of min ‖∇f‖² ... SFO to" / "--target," in ragged half-lines.
    lines = [line.strip() for line in invoke("run", "--help").stdout.splitlines()]
    assert any(line.startswith("rate: the log-log slope of min ‖∇f‖² against steps") for line in lines), lines[:12]
    from typer.main import get_command

    group = get_command(app)
    commands = [*group.commands.values(), *group.commands["sweep"].commands.values()]
    for command in commands:
        for paragraph in (command.help or "").split("\n\n"):
            assert "\n" not in paragraph, (command.name, paragraph)


def test_compare_resume_never_drops_runs_of_another_comparison(tmp_path):
    # --resume rewrote FILE with this comparison's finished runs only: the rows of a comparison
    # with other settings (or of `sgdm run --out`) were silently deleted.
    out = tmp_path / "c.jsonl"
    args = ("compare", "--seeds", "1", "--jobs", "1", "--epochs", "2", "--out", out)
    assert invoke(*args, "--strategies", "i,ii").exit_code == 0
    before = out.read_text()
    result = invoke(*args, "--strategies", "i", "--resume")
    assert result.exit_code == 2
    assert f"error: {out} holds 1 run(s) that are not part of this comparison" in result.stderr
    assert out.read_text() == before
    # The same comparison, or one that extends it, resumes.
    result = invoke(*args[:2], "2", *args[3:], "--strategies", "i,ii", "--resume", "--json")
    assert result.exit_code == 0, result.stderr
    assert "2 runs already in" in result.stderr
    assert before.splitlines() == out.read_text().splitlines()[: len(before.splitlines())]


def test_compare_with_a_failed_run_exits_1(monkeypatch):
    # A failed run was listed on stderr, but the command exited 0 (sgdm sweep exits 1).
    import sgdm
    from sgdm import experiment

    run = experiment.run

    def failing(spec, *args, **kwargs):
        if spec.seed == 1:
            raise sgdm.SgdmError("out of luck")
        return run(spec, *args, **kwargs)

    monkeypatch.setattr(experiment, "run", failing)
    result = invoke("compare", "--strategies", "ii", "--seeds", "2", "--jobs", "1", "--epochs", "2", "--json")
    assert result.exit_code == 1
    assert "run ii (seed 1) failed: SgdmError: out of luck" in result.stderr
    assert json.loads(result.stdout)["strategies"][0]["failed"] == 1


def test_selected_epochs_of_a_one_stage_run_are_spread_in_log_time():
    from sgdm_cli.app import _selected_rows

    one_stage = [{"epoch": e, "batch_size": 128} for e in range(301)]  # baseline, (i)
    epochs = [r["epoch"] for r in _selected_rows(one_stage)]
    assert epochs[0] == 0 and epochs[-1] == 300 and len(epochs) == 10
    ratios = np.diff(np.log(epochs[1:]))
    assert np.allclose(ratios, ratios.mean(), atol=0.05)  # evenly spaced in log T
    staged = [{"epoch": e, "batch_size": 8 * 2 ** (max(e - 1, 0) // 30)} for e in range(301)]
    picked = [r["epoch"] for r in _selected_rows(staged)]  # ten stages: their ends, as before
    assert picked == [0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300]
    assert [r["epoch"] for r in _selected_rows(one_stage[:2])] == [0, 1]


def test_a_checkpoint_interval_longer_than_the_run_is_noted(tmp_path):
    ckpt = tmp_path / "ck"
    result = invoke("run", "--epochs", "3", "--checkpoint", ckpt, "--json")
    assert result.exit_code == 0
    assert "note: --checkpoint-every 10 exceeds the run's 3 epochs: no checkpoint will be written" in result.stderr
    assert not (ckpt.exists() and any(ckpt.iterdir()))
    result = invoke("run", "--epochs", "3", "--checkpoint", ckpt, "--checkpoint-every", "2", "--json")
    assert result.exit_code == 0 and "no checkpoint will be written" not in result.stderr
    assert any(ckpt.iterdir())
