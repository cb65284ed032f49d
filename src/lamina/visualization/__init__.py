"""Seeing models: `summary` (the table), `plot` (DOT text and rendering), `figures`
(matplotlib plots of histories, latent spaces and images). Users reach them through
`Model.summary`, `lamina.utils.plot_model` and friends.
"""
