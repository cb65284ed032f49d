"""`BackupAndRestore`: resume a training run that was interrupted (killed, preempted) where its
last backup left it."""

from __future__ import annotations

import json
import os

from lamina.callbacks.callback import Callback, Logs

_MODEL = "model.lamina"
_STATE = "state.json"


class BackupAndRestore(Callback):
    """Back the model, its optimizer state and the epoch up to `backup_dir` as training goes,
    and, when `fit` starts and a backup is there, restore them and go on from the next epoch.

    Args:
        backup_dir: the folder of the backup (a `.lamina` file and a small JSON state; each
            written atomically, so a run killed while writing keeps the previous backup).
        save_freq: `"epoch"` (after each epoch) or an int (every that many batches, and after
            each epoch).
        delete_checkpoint: remove the backup when training ends normally.

    Example:
        >>> import numpy as np, tempfile
        >>> from lamina import Input, Model, callbacks
        >>> from lamina.layers import Dense
        >>> x = Input(shape=(2,)); model = Model(x, Dense(1)(x))
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> backup = callbacks.BackupAndRestore(tempfile.mkdtemp())
        >>> len(model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
        ...               callbacks=[backup]).history["loss"])
        2
    """

    def __init__(
        self,
        backup_dir: str | os.PathLike[str],
        save_freq: str | int = "epoch",
        delete_checkpoint: bool = True,
    ) -> None:
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir is required, received an empty path.")
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(
                f"BackupAndRestore: save_freq must be 'epoch' or a positive int, received "
                f"{save_freq!r}."
            )
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = delete_checkpoint
        self._epoch = 0
        self._batches = 0

    @property
    def _model_path(self) -> str:
        return os.path.join(self.backup_dir, _MODEL)

    @property
    def _state_path(self) -> str:
        return os.path.join(self.backup_dir, _STATE)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if not os.path.exists(self._state_path):
            return
        from lamina.saving import load_model

        with open(self._state_path, encoding="utf-8") as file:
            state = json.load(file)
        saved = load_model(self._model_path)
        model = self.model
        model.set_weights(saved.get_weights())
        if model.optimizer is not None and saved.optimizer is not None:
            model.optimizer.load_state_dict(saved.optimizer.state_dict())
        # fit starts its epoch loop at this epoch (Keras's `_initial_epoch`).
        model._initial_epoch = int(state["epoch"])

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if isinstance(self.save_freq, int):
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._backup(self._epoch)  # mid-epoch: the epoch is run again from its start

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self._epoch = epoch

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self._backup(epoch + 1)

    def on_train_end(self, logs: Logs | None = None) -> None:
        stopped_early = getattr(self.model, "stop_training", False)
        if self.delete_checkpoint and not stopped_early:
            for path in (self._state_path, self._model_path):
                if os.path.exists(path):
                    os.remove(path)

    def _backup(self, next_epoch: int) -> None:
        os.makedirs(self.backup_dir, exist_ok=True)
        self.model.save(self._model_path)  # atomic
        temporary = self._state_path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump({"epoch": next_epoch}, file)
        os.replace(temporary, self._state_path)
