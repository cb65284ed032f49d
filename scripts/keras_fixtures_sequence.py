"""Write the Keras reference fixtures for the sequence layers (masking, recurrent).

Run with Keras 3 installed beside (never a lamina dependency):

    KERAS_BACKEND=torch python scripts/keras_fixtures_sequence.py

Each case is one `tests/fixtures/keras/sequence/<name>.npz` holding the layer's class name and
constructor arguments (JSON), the input `x`, the weights `w0, w1, ...` in Keras's order and
layout (random, so that every weight matters), where it applies the `mask` given to the call
(right-padded, left-padded or with holes), and the inference outputs `y0, y1, ...` (the
output, then the states when `return_state`).
"""

from __future__ import annotations

import json
import os
import pathlib

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "keras" / "sequence"

RIGHT = [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
HOLES = [[1, 0, 1, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]]

# (file name, class name, constructor arguments, mask or None)
CASES: list[tuple[str, str, dict, list | None]] = [
    ("simple_rnn", "SimpleRNN", {"units": 4}, None),
    ("simple_rnn_seq_masked", "SimpleRNN", {"units": 3, "return_sequences": True}, HOLES),
    ("lstm", "LSTM", {"units": 4}, None),
    ("lstm_seq_state", "LSTM", {"units": 3, "return_sequences": True, "return_state": True}, None),
    ("lstm_backwards", "LSTM", {"units": 3, "go_backwards": True, "return_sequences": True}, None),
    ("lstm_no_bias", "LSTM", {"units": 2, "use_bias": False}, None),
    ("lstm_relu", "LSTM", {"units": 3, "activation": "relu", "return_state": True}, None),
    (
        "lstm_masked_right",
        "LSTM",
        {"units": 3, "return_sequences": True, "return_state": True},
        RIGHT,
    ),
    ("lstm_masked_holes", "LSTM", {"units": 3, "return_sequences": True}, HOLES),
    ("lstm_masked_backwards", "LSTM", {"units": 3, "go_backwards": True}, RIGHT),
    ("gru", "GRU", {"units": 4, "return_state": True}, None),
    ("gru_seq", "GRU", {"units": 3, "return_sequences": True}, None),
    ("gru_reset_before", "GRU", {"units": 3, "reset_after": False, "return_sequences": True}, None),
    ("gru_masked_right", "GRU", {"units": 3, "return_sequences": True}, RIGHT),
    ("gru_masked_holes", "GRU", {"units": 2, "return_state": True}, HOLES),
    ("gru_no_bias_backwards", "GRU", {"units": 2, "use_bias": False, "go_backwards": True}, None),
    # Wrappers: the wrapped layer as {"class_name", "config"}.
    (
        "bidirectional_lstm_masked",
        "Bidirectional",
        {"layer": {"class_name": "LSTM", "config": {"units": 3, "return_sequences": True}}},
        RIGHT,
    ),
    (
        "bidirectional_gru_sum_state",
        "Bidirectional",
        {
            "layer": {"class_name": "GRU", "config": {"units": 2, "return_state": True}},
            "merge_mode": "sum",
        },
        None,
    ),
    (
        "bidirectional_rnn_holes",
        "Bidirectional",
        {"layer": {"class_name": "SimpleRNN", "config": {"units": 2}}, "merge_mode": "ave"},
        HOLES,
    ),
    (
        "time_distributed_dense",
        "TimeDistributed",
        {"layer": {"class_name": "Dense", "config": {"units": 3}}},
        None,
    ),
]


def make(class_name: str, kwargs: dict) -> keras.layers.Layer:
    kwargs = dict(kwargs)
    if "layer" in kwargs:
        inner = kwargs["layer"]
        kwargs["layer"] = getattr(keras.layers, inner["class_name"])(**inner["config"])
    return getattr(keras.layers, class_name)(**kwargs)


def masking() -> None:
    """Keras's Masking output and mask on steps that are all mask_value, some, or none."""
    x = np.random.default_rng(4).normal(size=(2, 4, 3)).astype("float32")
    x[0, 1] = 0.5
    x[1, 3] = 0.5
    x[1, 0, 0] = 0.5  # only one feature equals mask_value: kept
    layer = keras.layers.Masking(mask_value=0.5)
    y = layer(x)
    np.savez(
        OUT / "masking.npz",
        layer="Masking",
        kwargs=json.dumps({"mask_value": 0.5}),
        x=x,
        y=keras.ops.convert_to_numpy(y),
        mask=keras.ops.convert_to_numpy(layer.compute_mask(x)),
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, class_name, kwargs, mask in CASES:
        x = rng.normal(size=(3, 5, 2)).astype("float32")
        layer = make(class_name, kwargs)
        layer.build(x.shape)
        weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
        layer.set_weights(weights)
        arrays: dict[str, np.ndarray] = {"x": x}
        call_kwargs = {}
        if mask is not None:
            arrays["mask"] = np.array(mask, dtype=bool)
            call_kwargs["mask"] = keras.ops.convert_to_tensor(arrays["mask"])
        out = layer(x, **call_kwargs)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for i, y in enumerate(outs):
            arrays[f"y{i}"] = keras.ops.convert_to_numpy(y)
        for i, w in enumerate(weights):
            arrays[f"w{i}"] = w
        np.savez(OUT / f"{name}.npz", layer=class_name, kwargs=json.dumps(kwargs), **arrays)
        print(name, [a.shape for a in outs])


# (file name, constructor arguments, query/value shapes, call options)
ATTENTION: list[tuple[str, dict, tuple, tuple, dict]] = [
    ("mha_self", {"num_heads": 2, "key_dim": 3}, (2, 4, 6), (2, 4, 6), {}),
    (
        "mha_cross",
        {"num_heads": 3, "key_dim": 2, "value_dim": 4, "output_shape": 5},
        (2, 3, 6),
        (2, 5, 4),
        {"key": True},
    ),
    (
        "mha_no_bias_causal",
        {"num_heads": 2, "key_dim": 2, "use_bias": False},
        (2, 4, 3),
        (2, 4, 3),
        {"use_causal_mask": True},
    ),
    (
        "mha_scores_masks",
        {"num_heads": 2, "key_dim": 3},
        (3, 5, 4),
        (3, 5, 4),
        {"return_attention_scores": True, "masks": True, "attention_mask": True},
    ),
    ("mha_fused_masks", {"num_heads": 2, "key_dim": 3}, (3, 5, 4), (3, 5, 4), {"masks": True}),
    (
        "mha_gqa_causal_scores",
        {"head_dim": 2, "num_query_heads": 4, "num_key_value_heads": 2},
        (2, 4, 6),
        (2, 4, 6),
        {"use_causal_mask": True, "return_attention_scores": True},
    ),
    (
        "mha_gqa_masks",
        {"head_dim": 3, "num_query_heads": 2, "num_key_value_heads": 1},
        (3, 5, 4),
        (3, 5, 4),
        {"masks": True},
    ),
]


def attention() -> None:
    rng = np.random.default_rng(1)
    for name, kwargs, q_shape, v_shape, options in ATTENTION:
        query = rng.normal(size=q_shape).astype("float32")
        value = rng.normal(size=v_shape).astype("float32")
        class_name = "GroupQueryAttention" if "head_dim" in kwargs else "MultiHeadAttention"
        layer = getattr(keras.layers, class_name)(**kwargs)
        arrays: dict[str, np.ndarray] = {"query": query, "value": value}
        call: dict = {}
        if options.get("key"):
            arrays["key"] = rng.normal(size=v_shape).astype("float32")
            call["key"] = arrays["key"]
        if options.get("masks"):
            arrays["query_mask"] = np.array(RIGHT, dtype=bool)
            arrays["value_mask"] = np.array(HOLES, dtype=bool)
            call["query_mask"] = keras.ops.convert_to_tensor(arrays["query_mask"])
            call["value_mask"] = keras.ops.convert_to_tensor(arrays["value_mask"])
        if options.get("attention_mask"):
            arrays["attention_mask"] = rng.random((q_shape[0], q_shape[1], v_shape[1])) > 0.3
            call["attention_mask"] = keras.ops.convert_to_tensor(arrays["attention_mask"])
        for flag in ("use_causal_mask", "return_attention_scores"):
            if options.get(flag):
                call[flag] = True
        layer(query, value, **{k: v for k, v in call.items() if k == "key"})
        weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
        layer.set_weights(weights)
        query_in = query
        if options.get("masks"):  # Keras reads the query's mask from the tensor, not query_mask
            from keras.src import backend

            query_in = keras.ops.convert_to_tensor(query)
            backend.set_keras_mask(query_in, call.pop("query_mask"))
        out = layer(query_in, value, **call)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for i, y in enumerate(outs):
            arrays[f"y{i}"] = keras.ops.convert_to_numpy(y)
        for i, w in enumerate(weights):
            arrays[f"w{i}"] = w
        flag_names = ("use_causal_mask", "return_attention_scores")
        flags = {k: v for k, v in options.items() if k in flag_names}
        np.savez(
            OUT / f"{name}.npz",
            layer=class_name,
            kwargs=json.dumps(kwargs),
            call=json.dumps(flags),
            **arrays,
        )
        print(name, [a.shape for a in outs], np.isnan(arrays["y0"]).any())


# (file name, class name, constructor arguments, call options)
DOT_ATTENTION: list[tuple[str, str, dict, dict]] = [
    ("attention_dot", "Attention", {}, {}),
    ("attention_scale_masked", "Attention", {"use_scale": True}, {"masks": True}),
    ("attention_fused_masked", "Attention", {}, {"masks": True, "key": True}),
    (
        "attention_concat_causal",
        "Attention",
        {"score_mode": "concat", "use_scale": True},
        {"use_causal_mask": True, "return_attention_scores": True},
    ),
    ("additive_attention", "AdditiveAttention", {}, {"masks": True}),
    (
        "additive_attention_plain",
        "AdditiveAttention",
        {"use_scale": False},
        {"return_attention_scores": True},
    ),
]


def dot_attention() -> None:
    rng = np.random.default_rng(2)
    for name, class_name, kwargs, options in DOT_ATTENTION:
        query = rng.normal(size=(3, 5, 4)).astype("float32")
        value = rng.normal(size=(3, 5, 4)).astype("float32")
        arrays: dict[str, np.ndarray] = {"query": query, "value": value}
        inputs = [query, value]
        if options.get("key"):
            arrays["key"] = rng.normal(size=(3, 5, 4)).astype("float32")
            inputs.append(arrays["key"])
        layer = getattr(keras.layers, class_name)(**kwargs)
        layer(inputs)
        weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights]
        layer.set_weights(weights)
        call: dict = {}
        if options.get("masks"):
            arrays["query_mask"] = np.array(RIGHT, dtype=bool)
            arrays["value_mask"] = np.array(HOLES, dtype=bool)
            call["mask"] = [
                keras.ops.convert_to_tensor(arrays[k]) for k in ("query_mask", "value_mask")
            ]
        flag_names = ("use_causal_mask", "return_attention_scores")
        flags = {k: v for k, v in options.items() if k in flag_names}
        out = layer(inputs, **call, **flags)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        for i, y in enumerate(outs):
            arrays[f"y{i}"] = keras.ops.convert_to_numpy(y)
        for i, w in enumerate(weights):
            arrays[f"w{i}"] = w
        np.savez(
            OUT / f"{name}.npz",
            layer=class_name,
            kwargs=json.dumps(kwargs),
            call=json.dumps(flags),
            **arrays,
        )
        print(name, [a.shape for a in outs])


PAD_CASES: list[dict] = [
    {},
    {"maxlen": 3},
    {"maxlen": 3, "padding": "post", "truncating": "post"},
    {"maxlen": 6, "padding": "post", "value": -1},
    {"maxlen": 2, "truncating": "post", "dtype": "float32", "value": 0.5},
]


def pad() -> None:
    sequences = [[1, 2, 3, 4], [5], [], [6, 7]]
    arrays = {}
    for i, kwargs in enumerate(PAD_CASES):
        arrays[f"y{i}"] = keras.utils.pad_sequences(sequences, **kwargs)
    np.savez(
        OUT / "pad_sequences.npz",
        sequences=json.dumps(sequences),
        cases=json.dumps(PAD_CASES),
        **arrays,
    )


DATASET_CASES: list[dict] = [
    {},
    {"num_words": 8, "skip_top": 1},
    {"maxlen": 6, "start_char": None, "oov_char": None, "index_from": 0},
    {"num_words": 10, "oov_char": None, "seed": 7},
]


def datasets() -> None:
    """Tiny fake imdb.npz / reuters.npz in Keras's format, and what Keras's loaders make of
    them (`get_file` patched to hand over the fake file)."""
    from keras.src.datasets import imdb, reuters

    folder = OUT / "datasets"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(3)

    def lists(n: int) -> np.ndarray:
        out = np.empty(n, dtype=object)
        out[:] = [list(map(int, rng.integers(1, 12, size=rng.integers(1, 9)))) for _ in range(n)]
        return out

    np.savez(
        folder / "imdb.npz",
        x_train=lists(7),
        y_train=rng.integers(0, 2, 7),
        x_test=lists(5),
        y_test=rng.integers(0, 2, 5),
    )
    np.savez(folder / "reuters.npz", x=lists(10), y=rng.integers(0, 4, 10))
    results: dict[str, list] = {"imdb": [], "reuters": []}
    for module, name in ((imdb, "imdb"), (reuters, "reuters")):
        module.get_file = lambda *args, _n=name, **kwargs: str(folder / f"{_n}.npz")
        for kwargs in DATASET_CASES:
            (x_train, y_train), (x_test, y_test) = module.load_data(**kwargs)
            results[name].append(
                [[list(map(int, s)) for s in x] for x in (x_train, x_test)]
                + [list(map(int, y)) for y in (y_train, y_test)]
            )
    (folder / "expected.json").write_text(json.dumps({"cases": DATASET_CASES, **results}))


if __name__ == "__main__":
    main()
    masking()
    datasets()
    pad()
    attention()
    dot_attention()
