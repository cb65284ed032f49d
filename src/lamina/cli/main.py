"""The `lamina` command: look at saved models and run the seed's examples.

    lamina summary FILE                 the summary table of a saved model
    lamina plot FILE -o OUT [options]   draw a saved model (png, svg, jpg, dot; pdf with Graphviz)
    lamina inspect FILE [--verify]      format version, layers, parameters, how functions load
                                        (also what a Keras .keras / .h5 file would become)
    lamina convert MODEL.keras [OUT]    a Keras model file as a .lamina file
    lamina demo [--out DIR]             the seed's examples end to end, offline

Exit codes scripts can trust: 0 success, 2 a usage error (argparse's), 1 any other failure.
Errors are one line on stderr; `--debug` shows the traceback instead.

`demo` runs `DEMO_STEPS` in order: each is a function of a `DemoContext` that prints what it
does and records the files it writes; later steps (training, saving) are appended to the list.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lamina

__all__ = ["DEMO_STEPS", "CommandError", "DemoContext", "build_parser", "main"]


class CommandError(Exception):
    """A failure to report as one line, exit code 1."""


# ---------------------------------------------------------------------------- loading
def existing_file(path: str, expected: str) -> Path:
    """`path` as a Path, or a CommandError saying it is missing or a folder."""
    file = Path(path)
    if file.is_dir():
        raise CommandError(f"'{path}' is a folder, not a file; expected {expected}.")
    if not file.is_file():
        raise CommandError(f"no such file: '{path}'; expected {expected}.")
    return file


def load_saved_model(path: str, *, unsafe: bool = False, trust: Sequence[str] = ()) -> Any:
    """Load a `.lamina` file with `lamina.load_model`: safely unless `unsafe`, trusting the
    importable functions of the modules in `trust`."""
    from lamina.saving import load_model
    from lamina.saving.functions import FunctionDeserializationError

    file = existing_file(path, "a model saved with model.save()")
    try:
        return load_model(file, safe_mode=not unsafe, trusted_modules=list(trust))
    except FunctionDeserializationError as error:
        raise CommandError(in_command_terms(str(error))) from error


_API_TO_FLAGS = (
    (re.compile(r"trusted_modules=\['([\w.]+)'\]"), r"--trust \1"),
    (re.compile(r"safe_mode=False"), "--unsafe"),
)


def in_command_terms(message: str) -> str:
    """A loading error's advice in the command's flags instead of Python's arguments.

    Example:
        >>> in_command_terms("pass trusted_modules=['helpers'] (or safe_mode=False)")
        'pass --trust helpers (or --unsafe)'
    """
    for pattern, flags in _API_TO_FLAGS:
        message = pattern.sub(flags, message)
    return message


# ---------------------------------------------------------------------------- commands
def cmd_summary(args: argparse.Namespace) -> int:
    model = load_saved_model(args.file, unsafe=args.unsafe, trust=args.trust)
    model.summary(line_length=args.line_length, expand_nested=args.expand_nested)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from lamina.visualization.plot import plot_model

    model = load_saved_model(args.file, unsafe=args.unsafe, trust=args.trust)
    plot_model(
        model,
        args.output,
        show_shapes=args.shapes,
        show_dtype=args.dtype,
        show_layer_names=not args.no_names,
        rankdir=args.rankdir,
        expand_nested=args.expand_nested,
        dpi=args.dpi,
        show_layer_activations=args.activations,
        show_trainable=args.trainable,
    )
    print(f"wrote {args.output} ({Path(args.output).stat().st_size:,} bytes)")
    return 0


def is_keras_file(path: Path) -> bool:
    """Whether `path` is a Keras model file: an HDF5 file, or a zip with Keras's weights."""
    import zipfile

    with path.open("rb") as handle:
        head = handle.read(8)
    if head == b"\x89HDF\r\n\x1a\n":
        return True
    try:
        with zipfile.ZipFile(path) as archive:
            return "model.weights.h5" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def cmd_convert(args: argparse.Namespace) -> int:
    from lamina.saving import load_keras

    source = existing_file(args.file, "a Keras model file (.keras or .h5)")
    target = Path(args.output) if args.output else source.with_suffix(".lamina")
    if target.resolve() == source.resolve():
        raise CommandError(f"'{target}' is the Keras file itself; name another OUT.")
    model = load_keras(source, compile=not args.no_compile)
    model.save(target)
    print(f"wrote {target} ({Path(target).stat().st_size:,} bytes) from {source}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from lamina.saving import describe_keras, inspect_file

    file = existing_file(args.file, "a .lamina file")
    if is_keras_file(file):
        described = describe_keras(file)
        print(json.dumps(described, indent=2) if args.json else "\n".join(_tree(described)))
        return 0
    report = inspect_file(file, verify=args.verify)
    if args.json:
        print(json.dumps(_plain(report), indent=2, default=str))
    elif isinstance(report, str) or type(report).__str__ is not object.__str__:
        print(str(report).rstrip("\n"))  # the report's own text (FileReport.__str__)
    else:
        print("\n".join(_tree(_plain(report))))
    return 0


def _plain(value: Any) -> Any:
    """Dataclasses and mappings as plain dicts, so any report prints as a tree or as JSON;
    strings (from the file) with their control characters escaped."""
    from lamina.saving.report import printable

    if isinstance(value, str):
        return printable(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {_plain(str(k)): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _tree(value: Any, indent: str = "") -> list[str]:
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{indent}{key}:")
                lines.extend(_tree(item, indent + "  "))
            else:
                lines.append(f"{indent}{key}: {item}")
    elif isinstance(value, list):
        for item in value:
            sub = _tree(item, indent + "  ")
            if sub:
                lines.append(f"{indent}- {sub[0].lstrip()}")
                lines.extend(sub[1:])
    else:
        lines.append(f"{indent}{value}")
    return lines


# ---------------------------------------------------------------------------- demo
@dataclasses.dataclass
class DemoContext:
    """What demo steps share: the output folder, a printer, models for later steps, and the
    files written so far (reported at the end)."""

    out: Path
    echo: Callable[[str], None] = print
    vae_epochs: int = 20
    state: dict[str, Any] = dataclasses.field(default_factory=dict)
    written: list[Path] = dataclasses.field(default_factory=list)

    def path(self, name: str) -> Path:
        """A path in the output folder, recorded as written."""
        path = self.out / name
        self.written.append(path)
        return path


def demo_slicing(ctx: DemoContext) -> None:
    """The seed's first example: two Lambda slices, reshaped and merged back together."""
    import numpy as np

    from lamina import Input, Model
    from lamina.layers import Lambda, Reshape, merge
    from lamina.utils import clear_session
    from lamina.visualization.plot import plot_model

    def slice(x: Any, index: int) -> Any:  # the seed's name, shadowing the builtin on purpose
        return x[:, :, index]

    clear_session()  # names lambda, lambda_1, ... as in the seed's picture
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = Input(shape=(4, 2))
        x1 = Lambda(slice, output_shape=(4, 1), arguments={"index": 0})(a)
        x2 = Lambda(slice, output_shape=(4, 1), arguments={"index": 1})(a)
        x1 = Reshape((4, 1, 1))(x1)
        x2 = Reshape((4, 1, 1))(x2)
        output = merge([x1, x2], mode="concat")
        model = Model(a, output)
    for warning in caught:
        ctx.echo(f"note: {warning.message}")
    ctx.echo("")
    model.summary(print_fn=ctx.echo)
    x_test = np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]])
    prediction = model.predict(x_test, verbose=0)
    ctx.echo(f"\nmodel.predict({x_test.tolist()}) -> shape {prediction.shape}")
    ctx.echo(np.array2string(prediction))
    picture = ctx.path("lambda.png")
    plot_model(model, picture, show_shapes=True)
    ctx.echo(f"wrote the model's picture to {picture}")
    ctx.state["slicing_model"] = model


def demo_vae(ctx: DemoContext) -> None:
    """The seed's VAE, joined by a sampling Lambda, trained briefly on the shipped subset."""
    from lamina.cli import demo_vae
    from lamina.utils import set_random_seed

    set_random_seed(0)
    (x_train, _), (x_test, y_test) = demo_vae.load_data(subset=True)
    vae, encoder, decoder = demo_vae.build_vae()
    ctx.echo(f"training on {len(x_train)} Fashion-MNIST images shipped with lamina (offline)")
    # Small batches: the subset gives 2,000 images, and the latent plane only organises itself
    # after several hundred steps (about 3 s on two CPU cores).
    history = demo_vae.train(vae, x_train, epochs=ctx.vae_epochs, batch_size=32)
    test_loss = float(vae.evaluate(x_test, x_test, batch_size=128, verbose=0))
    ctx.echo(
        f"loss per pixel: {history.history['loss'][0]:.4f} after epoch 1, "
        f"{history.history['loss'][-1]:.4f} after epoch {len(history.history['loss'])}; "
        f"test loss {test_loss:.4f}"
    )
    for name, draw in (
        ("vae_latent.png", lambda p: demo_vae.plot_latent(encoder, x_test, y_test, p)),
        ("vae_decoded_grid.png", lambda p: demo_vae.plot_decoded_grid(decoder, p)),
    ):
        draw(ctx.path(name))  # type: ignore[no-untyped-call]
        ctx.echo(f"wrote {ctx.out / name}")
    ctx.state["vae"], ctx.state["vae_test"] = vae, x_test[:64]


def demo_save_reload(ctx: DemoContext) -> None:
    """Save both models and load them back safely: the function layers are op graphs of ops
    from a fixed table, never code imported or executed from the file."""
    import numpy as np

    from lamina.saving import inspect_file, load_model
    from lamina.utils import set_random_seed

    samples = {
        "slicing_model": np.array([[[1, 2], [2, 3], [3, 4], [4, 5]]], dtype=np.float32),
        "vae": ctx.state.get("vae_test"),
    }
    for key, filename in (("slicing_model", "slicing.lamina"), ("vae", "vae.lamina")):
        model = ctx.state.get(key)
        if model is None:
            continue
        path = ctx.path(filename)
        model.save(path)
        loaded = load_model(path)  # safe_mode=True: nothing from the file runs as Python
        set_random_seed(1)  # the VAE's sampling Lambda draws: same seed, same draws
        before = model.predict(samples[key], verbose=0)
        set_random_seed(1)
        after = loaded.predict(samples[key], verbose=0)
        same = "identical" if np.array_equal(before, after) else "DIFFERENT"
        ctx.echo(f"\n{inspect_file(path)}")
        ctx.echo(f"reloaded {path.name} with safe_mode=True: predictions {same}")
        if same != "identical":
            raise CommandError(f"the reloaded {path.name} predicts differently from the original")


DemoStep = Callable[[DemoContext], None]

DEMO_STEPS: list[tuple[str, DemoStep]] = [
    ("The seed's slicing model: Lambda with arguments, Reshape, merge", demo_slicing),
    ("The seed's VAE: a sampling Lambda between encoder and decoder", demo_vae),
    ("Saving and safely reloading both models", demo_save_reload),
]
"""(title, step) pairs run in order by `lamina demo`; append to add steps."""


def cmd_demo(args: argparse.Namespace) -> int:
    if args.epochs < 1:
        raise CommandError(f"--epochs must be at least 1, received {args.epochs}")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"cannot create the output folder '{out}': {error}") from error
    ctx = DemoContext(out=out, vae_epochs=args.epochs)
    ctx.echo(f"lamina demo: writing pictures and saved models to {out.resolve()} (--out DIR)")
    for number, (title, step) in enumerate(DEMO_STEPS, start=1):
        ctx.echo(f"\n== {number}/{len(DEMO_STEPS)} {title}")
        step(ctx)
    ctx.echo(f"\nlamina demo wrote {len(ctx.written)} file(s) to {out.resolve()}:")
    for path in ctx.written:
        ctx.echo(f"  {path.name}")
    return 0


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `lamina` command."""
    debug = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a subcommand's default must not overwrite `lamina --debug <command>`.
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error")  # fmt: skip
    unsafe = argparse.ArgumentParser(add_help=False)
    unsafe.add_argument(
        "--unsafe",
        action="store_true",
        help="load functions that safe mode refuses (runs code from the file: trusted files only)",
    )
    unsafe.add_argument(
        "--trust",
        metavar="MODULE",
        action="append",
        default=[],
        help="trust the importable functions of MODULE (repeatable); the rest stays safe",
    )
    parser = argparse.ArgumentParser(
        prog="lamina",
        description="Keras-style models on PyTorch: look at saved models, run the seed's demo.",
    )
    parser.add_argument("--version", action="version", version=f"lamina {lamina.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    summary = commands.add_parser(
        "summary", parents=[debug, unsafe], help="print the summary of a saved model",
        description="Print the layer table of a model saved with model.save().",
    )  # fmt: skip
    summary.add_argument("file", metavar="FILE", help="a .lamina file")
    summary.add_argument("--expand-nested", action="store_true", help="list nested models' layers")
    summary.add_argument("--line-length", type=int, default=None, help="table width in characters")
    summary.set_defaults(run=cmd_summary)

    plot = commands.add_parser(
        "plot", parents=[debug, unsafe], help="draw a saved model",
        description="Draw a saved model; the format comes from OUT's extension "
        "(png, svg, jpg, dot; pdf when Graphviz is installed).",
    )  # fmt: skip
    plot.add_argument("file", metavar="FILE", help="a .lamina file")
    plot.add_argument("-o", "--output", metavar="OUT", required=True, help="the picture to write")
    plot.add_argument("--shapes", action="store_true", help="show inferred input/output shapes")
    plot.add_argument("--dtype", action="store_true", help="show input/output dtypes")
    plot.add_argument("--expand-nested", action="store_true", help="draw nested models' layers")
    plot.add_argument("--rankdir", choices=["TB", "LR", "BT", "RL"], default="TB",
                      help="direction of the graph (default TB: top to bottom)")  # fmt: skip
    plot.add_argument("--dpi", type=int, default=96, help="resolution of png/jpg (default 96)")
    plot.add_argument("--activations", action="store_true", help="show layer activations")
    plot.add_argument("--trainable", action="store_true", help="mark trainable/frozen layers")
    plot.add_argument("--no-names", action="store_true", help="show classes without layer names")
    plot.set_defaults(run=cmd_plot)

    inspect = commands.add_parser(
        "inspect", parents=[debug], help="describe a saved file without loading its functions",
        description="Show a saved file's format version, layers, parameter count, and how each "
        "function layer would load (op graph (safe), registered, source: needs trust).",
    )  # fmt: skip
    inspect.add_argument("file", metavar="FILE", help="a .lamina file")
    inspect.add_argument("--json", action="store_true", help="print the report as JSON")
    inspect.add_argument(
        "--verify",
        action="store_true",
        help="also read every byte of the weights and check their checksums",
    )
    inspect.set_defaults(run=cmd_inspect)

    convert = commands.add_parser(
        "convert", parents=[debug], help="convert a Keras model file to a .lamina file",
        description="Read a Keras 3 .keras file (or a Keras 2 .h5 model) with "
        "lamina.saving.load_keras and save it as a .lamina file. Lambda layers stored as "
        "bytecode need their functions: load those in Python with load_keras(path, "
        "custom_objects={'layer_name': fn}) and save the model.",
    )  # fmt: skip
    convert.add_argument("file", metavar="MODEL", help="a .keras (or Keras 2 .h5) file")
    convert.add_argument("output", metavar="OUT", nargs="?", default=None,
                         help="the .lamina file (default: MODEL with .lamina)")  # fmt: skip
    convert.add_argument("--no-compile", action="store_true",
                         help="leave out the optimizer, loss and metrics")  # fmt: skip
    convert.set_defaults(run=cmd_convert)

    demo = commands.add_parser(
        "demo", parents=[debug], help="run the seed's examples offline",
        description="Run the seed's examples end to end on the shipped data and say what was "
        "written where.",
    )  # fmt: skip
    demo.add_argument("--out", metavar="DIR", default="lamina-demo",
                      help="folder for the pictures and files (default ./lamina-demo)")  # fmt: skip
    demo.add_argument("--epochs", type=int, default=20, metavar="N",
                      help="epochs of the short VAE run (default 20)")  # fmt: skip
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `lamina` command with `argv` (default `sys.argv[1:]`); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version (0) and usage errors (2)
        return exit_.code if isinstance(exit_.code, int) else 0
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        print("lamina: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            traceback.print_exc()
        else:
            message = str(error)
            if not isinstance(error, CommandError):
                message = f"{type(error).__name__}: {message}" if message else type(error).__name__
            print(f"lamina {args.command}: error: {message}", file=sys.stderr)
            print("(run again with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
