"""`Model.export`: torch.export with a dynamic batch, ONNX where installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from lamina import Input, Model
from lamina.layers import Dense, Lambda


def _model() -> Model:
    torch.manual_seed(0)
    inputs = Input(shape=(3,))
    return Model(inputs, Lambda(lambda t: t * 2)(Dense(2)(inputs)) + 1)


def test_torch_export_has_a_dynamic_batch(tmp_path):
    model = _model()
    model.export(tmp_path / "m.pt2")
    program = torch.export.load(str(tmp_path / "m.pt2"))
    x = torch.rand(5, 3)
    torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.skipif(
    importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None,
    reason="needs onnx and onnxruntime (pip install lamina[export])",
)
# torch's ONNX exporter warns about its own internals (pytree's LeafSpec); not ours to fix.
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
def test_onnx_export_runs_in_onnxruntime(tmp_path):
    import onnxruntime

    model = _model()
    model.export(tmp_path / "m.onnx", format="onnx")
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x = np.random.rand(4, 3).astype(np.float32)
    (out,) = session.run(None, {session.get_inputs()[0].name: x})
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
