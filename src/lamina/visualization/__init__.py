"""Seeing models: `summary` (the table), `dot` (DOT text), `plot` (rendering), `figures`
(matplotlib plots of histories, latent spaces and images). Users reach them through
`Model.summary`, `lamina.utils.plot_model` and friends.
"""
