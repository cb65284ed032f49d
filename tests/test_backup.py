"""`BackupAndRestore`: a run killed after its second epoch resumes from the backup and ends
with the weights of an uninterrupted run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lamina import callbacks

SCRIPT = """
import os, sys
import numpy as np
import lamina
from lamina import Input, Model, callbacks
from lamina.layers import Dense

lamina.utils.set_random_seed(0)
x = Input(shape=(3,))
model = Model(x, Dense(1)(Dense(4, activation="relu")(x)))
model.compile(optimizer=lamina.optimizers.Adam(learning_rate=0.01), loss="mse")
data = np.random.default_rng(1).normal(size=(32, 3)).astype("float32")
target = data.sum(axis=1, keepdims=True)
backup_dir, out, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
seen = []
def stop(epoch, logs):
    seen.append(epoch)
    if epoch + 1 == kill_at:
        os._exit(3)  # as a killed run: no clean-up at all
history = model.fit(data, target, batch_size=8, epochs=4, shuffle=False, verbose=0,
                    callbacks=[callbacks.BackupAndRestore(backup_dir),
                               callbacks.LambdaCallback(on_epoch_end=stop)])
np.savez(out, *model.get_weights(), epochs=np.array(seen))
"""


def _run(tmp: Path, backup: Path, out: Path, kill_at: int) -> int:
    script = tmp / "train.py"
    script.write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(backup), str(out), str(kill_at)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 3), done.stderr
    return done.returncode


def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path: Path) -> None:
    assert _run(tmp_path, tmp_path / "plain", tmp_path / "plain.npz", kill_at=0) == 0
    backup = tmp_path / "backup"
    assert _run(tmp_path, backup, tmp_path / "x.npz", kill_at=2) == 3  # killed after epoch 2
    assert (backup / "model.lamina").is_file()
    assert _run(tmp_path, backup, tmp_path / "resumed.npz", kill_at=0) == 0
    plain, resumed = np.load(tmp_path / "plain.npz"), np.load(tmp_path / "resumed.npz")
    assert resumed["epochs"].tolist() == [2, 3]  # only the epochs the killed run had not done
    for key in plain.files:
        if key != "epochs":
            np.testing.assert_allclose(resumed[key], plain[key], rtol=1e-6, atol=1e-7)
    assert not (backup / "model.lamina").exists()  # a finished run removes its backup


def test_backup_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="save_freq must be 'epoch' or a positive int"):
        callbacks.BackupAndRestore("somewhere", save_freq="batch")
