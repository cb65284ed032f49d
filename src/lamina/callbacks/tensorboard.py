"""`TensorBoard`: training curves, weight histograms and the model's graph for TensorBoard,
written through torch's own `SummaryWriter` (the `tensorboard` package, an optional extra:
`pip install lamina[tensorboard]`)."""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch

from lamina.callbacks.callback import Callback, Logs
from lamina.core.errors import warn


class TensorBoard(Callback):
    """Write the logs of `fit` where TensorBoard reads them, as Keras does: `log_dir/train` and
    `log_dir/validation`, scalars `epoch_<name>` (and `batch_<name>` with a batch
    `update_freq`), histograms of the weights by their paths.

    Args:
        log_dir: the folder of the event files.
        histogram_freq: write the weights' histograms every that many epochs (0: never).
        write_graph: write the model's graph (traced by torch on zeros of its input shapes;
            a model torch cannot trace is skipped with a warning).
        update_freq: `"epoch"`, `"batch"`, or an int: write the batch logs every that many
            batches.

    Keras's other arguments (`write_images`, `write_steps_per_second`, `profile_batch`,
    `embeddings_freq`, `embeddings_metadata`) are accepted; lamina writes no images,
    profiles or embeddings.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike[str] = "logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: str | int = "epoch",
        profile_batch: int = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ) -> None:
        super().__init__()
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise ImportError(
                "TensorBoard needs the tensorboard package, an optional extra of lamina: "
                "pip install tensorboard (or pip install lamina[tensorboard])."
            ) from error
        if update_freq not in ("epoch", "batch") and not (
            isinstance(update_freq, int) and update_freq > 0
        ):
            raise ValueError(
                f"TensorBoard: update_freq must be 'epoch', 'batch' or a positive int, "
                f"received {update_freq!r}."
            )
        self._writer_class = SummaryWriter
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self._writers: dict[str, Any] = {}
        self._step = 0

    def _writer(self, kind: str) -> Any:
        if kind not in self._writers:
            self._writers[kind] = self._writer_class(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._step = 0
        if self.write_graph:
            self._write_graph()

    def _write_graph(self) -> None:
        model: Any = self.model
        shapes: list[tuple[int | None, ...]] = []
        for tensor in getattr(model, "inputs", None) or []:
            shape = getattr(tensor, "shape", None)
            if shape is None:
                return
            shapes.append(tuple(shape))
        if not shapes:
            return
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        example = [torch.zeros([1 if d is None else d for d in s], device=device) for s in shapes]
        try:
            with warnings.catch_warnings():  # torch.jit.trace's own deprecation notices
                warnings.simplefilter("ignore")
                self._writer("train").add_graph(model, example[0] if len(example) == 1 else example)
        except Exception as error:  # tracing is best effort, as Keras's graph on torch
            warn(f"TensorBoard: the model's graph was not written ({type(error).__name__}).")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        self._step += 1
        if self.update_freq != "epoch" and self._step % int(self.update_freq) == 0:
            for name, value in (logs or {}).items():
                self._writer("train").add_scalar(f"batch_{name}", float(value), self._step)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        for name, value in (logs or {}).items():
            kind, tag = ("validation", name[4:]) if name.startswith("val_") else ("train", name)
            self._writer(kind).add_scalar(f"epoch_{tag}", float(value), epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            model: Any = self.model
            for name, weight in model.named_parameters():
                tag = getattr(weight, "path", name.replace(".", "/"))
                writer.add_histogram(tag, weight.detach().float().cpu(), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
