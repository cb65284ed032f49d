"""The core: symbolic tensors and nodes (`tensor`), `Layer` (`layer`), the flat execution plan
(`plan`), `Model` and `Sequential` (`model`), and the config values layers share (`config`).

The public names are re-exported by `lamina` itself; this package holds no API of its own.
"""
