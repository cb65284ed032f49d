"""Tests of the `lamina` command, through subprocesses as a user runs it, plus in-process
argument checks (fast) and the slicing example."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lamina.cli.main import DEMO_STEPS, DemoContext, main

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


# ---------------------------------------------------------------------------- subprocesses
def test_demo_runs_the_seed_examples_end_to_end(tmp_path: Path) -> None:
    done = run("-m", "lamina", "demo", "--out", "out", "--epochs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    picture = tmp_path / "out" / "lambda.png"
    assert picture.read_bytes()[:8] == PNG_MAGIC
    assert "(None, 4)" in done.stdout  # the inferred shape, in the summary
    assert "output_shape=(4, 1) was declared" in done.stdout  # the note, not a raw warning
    assert "shape (1, 4, 1, 2)" in done.stdout
    assert "[[[[1. 2.]]" in done.stdout and "[[4. 5.]]]]" in done.stdout
    assert str(picture.resolve().parent) in done.stdout and "lambda.png" in done.stdout
    assert "Traceback" not in done.stderr
    first = done.stdout.splitlines()[0]  # where the files go, said before anything is written
    out = (tmp_path / "out").resolve()
    assert first == f"lamina demo: writing pictures and saved models to {out} (--out DIR)"
    # the VAE: trained on the shipped subset, with its two pictures
    assert "training on 2000 Fashion-MNIST images" in done.stdout and "Epoch 2/2" in done.stdout
    for name in ("vae_latent.png", "vae_decoded_grid.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG_MAGIC
    # both models saved and reloaded safely, their functions loading as op graphs
    assert "lambda.function: slice -- op graph (safe)" in done.stdout
    assert "sampling -- op graph (safe)" in done.stdout
    assert done.stdout.count("with safe_mode=True: predictions identical") == 2
    assert (tmp_path / "out" / "vae.lamina").is_file()


def test_demo_rejects_zero_epochs_before_making_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo-out"
    assert main(["demo", "--out", str(out), "--epochs", "0"]) == 1
    assert "--epochs must be at least 1, received 0" in capsys.readouterr().err
    assert not out.exists()


def test_failure_is_one_line_without_traceback(tmp_path: Path) -> None:
    done = run("-m", "lamina", "summary", "missing.lamina", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "lamina summary: error: no such file: 'missing.lamina'" in done.stderr
    debug = run("-m", "lamina", "--debug", "summary", "missing.lamina", cwd=tmp_path)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "CommandError: no such file" in debug.stderr


@pytest.mark.skipif(shutil.which("lamina") is None, reason="the lamina script is not installed")
def test_console_script(tmp_path: Path) -> None:
    done = subprocess.run(
        ["lamina", "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.startswith("lamina ")


def test_slicing_example(tmp_path: Path) -> None:
    done = run(str(ROOT / "examples" / "slicing.py"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[[[[1. 2.]]" in done.stdout and "(None, 4, 1, 2)" in done.stdout
    assert "wrote lambda.png" in done.stdout
    assert (tmp_path / "lambda.png").read_bytes()[:8] == PNG_MAGIC
    assert "returns (None, 4)" in done.stderr  # the seed's wrong output_shape is reported


# ---------------------------------------------------------------------------- in process
@pytest.mark.parametrize(
    ("argv", "code"),
    [
        ([], 2),
        (["--version"], 0),
        (["frobnicate"], 2),
        (["plot", "m.lamina"], 2),  # -o is required
        (["summary", "--help"], 0),
        (["inspect"], 2),
        (["demo", "--out"], 2),
    ],
)
def test_exit_codes(argv: list[str], code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code


def test_help_lists_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("summary", "plot", "inspect", "demo"):
        assert command in out


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plot", "m.lamina", "-o", "m.png", "--rankdir", "UP"]) == 2
    assert "invalid choice: 'UP'" in capsys.readouterr().err


def test_inspect_and_plot_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "none.lamina")]) == 1
    assert main(["plot", str(tmp_path / "none.lamina"), "-o", str(tmp_path / "m.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("error: no such file") == 2
    assert not (tmp_path / "m.png").exists()


def test_demo_folder_that_cannot_be_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["demo", "--out", str(blocker / "sub")]) == 1
    assert "cannot create the output folder" in capsys.readouterr().err


def test_demo_steps_are_an_extensible_list(tmp_path: Path) -> None:
    seen: list[str] = []

    def extra(ctx: DemoContext) -> None:
        seen.append(type(ctx.state["slicing_model"]).__name__)
        ctx.path("extra.txt").write_text("x")

    DEMO_STEPS.append(("extra step", extra))
    try:
        # One epoch: the test is about the list, not the training.
        assert main(["demo", "--out", str(tmp_path), "--epochs", "1"]) == 0
    finally:
        DEMO_STEPS.pop()
    assert seen == ["Model"]
    assert (tmp_path / "extra.txt").read_text() == "x"


# ---------------------------------------------------------------------------- saved files
def seed_file(tmp_path: Path) -> Path:
    import warnings

    from lamina import Input, Model
    from lamina.layers import Lambda, Reshape, merge
    from lamina.utils import clear_session

    def slice(x, index):
        return x[:, :, index]

    clear_session()  # layer names lambda, lambda_1, ... whatever ran before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = Input(shape=(4, 2))
        x1 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a))
        x2 = Reshape((4, 1, 1))(Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a))
        model = Model(a, merge([x1, x2], mode="concat"))
    path = tmp_path / "seed.lamina"
    model.save(path)
    assert model.predict(np.ones((1, 4, 2)), verbose=0).shape == (1, 4, 1, 2)
    return path


def test_summary_plot_inspect_of_a_saved_file(tmp_path: Path) -> None:
    path = seed_file(tmp_path)
    summary = run("-m", "lamina", "summary", str(path), cwd=tmp_path)
    assert summary.returncode == 0, summary.stderr
    assert "(None, 4)" in summary.stdout and "(None, 4, 1, 2)" in summary.stdout
    plot = run("-m", "lamina", "plot", str(path), "-o", "m.svg", "--shapes", cwd=tmp_path)
    assert plot.returncode == 0, plot.stderr
    svg = (tmp_path / "m.svg").read_text(encoding="utf-8")
    assert ">slice(index=0)</text>" in svg and ">(None, 4)</text>" in svg
    inspect = run("-m", "lamina", "inspect", str(path), cwd=tmp_path)
    assert inspect.returncode == 0, inspect.stderr
    assert "lambda.function: slice -- op graph (safe)" in inspect.stdout


def test_inspect_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = seed_file(tmp_path)
    capsys.readouterr()
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [layer["class_name"] for layer in report["layers"]] == [
        "InputLayer", "Lambda", "Reshape", "Lambda", "Reshape", "Concatenate",
    ]  # fmt: skip
    assert report["param_count"] == 0


def test_unsafe_and_trust_reach_load_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import lamina.saving as saving

    calls: list[dict[str, object]] = []

    class Loaded:
        def summary(self, **options: object) -> None:
            print("summary of the loaded model")

    def fake_load(path: Path, **options: object) -> Loaded:
        calls.append(options)
        return Loaded()

    monkeypatch.setattr(saving, "load_model", fake_load)
    file = tmp_path / "m.lamina"
    file.write_bytes(b"")
    assert main(["summary", str(file)]) == 0
    assert main(["summary", str(file), "--unsafe", "--trust", "pkg", "--trust", "other"]) == 0
    assert calls == [
        {"safe_mode": True, "trusted_modules": []},
        {"safe_mode": False, "trusted_modules": ["pkg", "other"]},
    ]
    assert capsys.readouterr().out.count("summary of the loaded model") == 2


def test_inspect_verify_checks_every_byte_of_the_weights(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from lamina import Input, Model
    from lamina.layers import Dense

    x = Input(shape=(4,))
    path = tmp_path / "m.lamina"
    Model(x, Dense(512)(x)).save(path)  # 10 KB of weights
    capsys.readouterr()
    assert main(["inspect", "--verify", str(path)]) == 0
    assert "checksums match" in capsys.readouterr().out
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        weights = archive.read("model.safetensors")
    data[data.find(weights) + len(weights) - 2000] ^= 0x10  # inside the kernel's bytes
    damaged = tmp_path / "damaged.lamina"
    damaged.write_bytes(bytes(data))
    assert main(["inspect", str(damaged)]) == 0  # the structure alone is fine
    assert main(["inspect", "--verify", str(damaged)]) == 1
    assert "xxh3_64 checksum" in capsys.readouterr().err


def test_file_errors_say_what_the_file_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    keras_file = tmp_path / "m.keras"
    with zipfile.ZipFile(keras_file, "w") as archive:
        for name in ("metadata.json", "config.json", "model.weights.h5"):
            archive.writestr(name, "{}")
    path = seed_file(tmp_path)
    truncated = tmp_path / "truncated.lamina"
    truncated.write_bytes(path.read_bytes()[:-200])
    cases = [
        (["summary", str(tmp_path)], "is a folder, not a file"),
        (["inspect", str(tmp_path)], "is a folder, not a file"),
        (["summary", str(tmp_path / "none.lamina")], "no such file"),
        (["summary", str(keras_file)], "is a Keras model file (.keras)"),
        (["summary", str(keras_file)], "lamina convert MODEL.keras OUT.lamina"),
        (["inspect", str(keras_file)], "does not describe a Keras model"),
        (["inspect", str(truncated)], "damaged or truncated"),
    ]
    for argv, expected in cases:
        capsys.readouterr()
        assert main(argv) == 1, argv
        assert expected in capsys.readouterr().err, argv


def test_unsafe_function_advice_names_the_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "saving"))
    import fn_helpers

    from lamina import Input, Model
    from lamina.layers import Lambda

    x = Input(shape=(2,))
    path = tmp_path / "numpy.lamina"
    with pytest.warns(UserWarning, match="reads a tensor's values"):
        Model(x, Lambda(fn_helpers.reads_values)(x)).save(path)
    capsys.readouterr()
    assert main(["summary", str(path)]) == 1
    error = capsys.readouterr().err
    assert "--trust fn_helpers" in error and "--unsafe" in error
    assert "safe_mode" not in error and "trusted_modules" not in error
    assert main(["summary", str(path), "--trust", "fn_helpers"]) == 0
