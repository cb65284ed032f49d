"""The `lamina` command: `main.py` parses the command line, `demo_vae.py` is the demo's VAE."""

from lamina.cli.main import main as main

__all__ = ["main"]
