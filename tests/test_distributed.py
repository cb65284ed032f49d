"""`fit` under torchrun: two CPU ranks with gloo against one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch.distributed

WORKER = Path(__file__).parent / "distributed" / "ddp_worker.py"

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch.distributed is not available"
)


def _torchrun(out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2"]
    command += ["--standalone", str(WORKER), str(out)]
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "LAMINA_DIST_TIMEOUT": "15", **env}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env=environment, check=False
    )


def test_two_ranks_train_like_one_process_with_the_global_batch(tmp_path):
    result = _torchrun(tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in (0, 1)]
    sys.path.insert(0, str(WORKER.parent))
    try:
        from ddp_worker import build
    finally:
        sys.path.pop(0)
    x = np.random.default_rng(0).random((32, 4), dtype=np.float32)
    model = build()
    history = model.fit(
        x, x.sum(axis=1, keepdims=True), batch_size=8, epochs=2, shuffle=False, verbose=0
    )
    for i, expected in enumerate(model.get_weights()):
        np.testing.assert_array_equal(ranks[0][str(i)], ranks[1][str(i)])
        np.testing.assert_allclose(ranks[0][str(i)], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ranks[0]["loss"], ranks[1]["loss"])
    np.testing.assert_allclose(ranks[0]["loss"], history.history["loss"], rtol=1e-5)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".lamina"] == ["ckpt.lamina"]


def test_a_dead_rank_gives_an_error_not_a_hang(tmp_path):
    result = _torchrun(tmp_path, LAMINA_TEST_DIE="1")
    assert result.returncode != 0
