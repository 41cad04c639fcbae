"""Deep generators on the continuous view: ``vae``, ``gan``, ``medgan`` and the DP baselines
``dp-vae``, ``dp-gan`` and ``dp-merf``.

The registry imports each class lazily from its module (:mod:`.vae`, :mod:`.gan`,
:mod:`.medgan`, :mod:`.dp_vae`, :mod:`.dp_gan`, :mod:`.dp_merf`); importing this package
imports neither torch nor the model modules. Shared pieces: :mod:`.normalizer`
(mode-specific normalisation and the model-space layout), :mod:`.common` (input checks,
conditional vector and training-by-sampling, conditional sampling, validation fidelity,
the generator template), :mod:`.nets` (torch building blocks) and :mod:`.dp` (budgets,
DP-SGD with Opacus and the privacy ledger).

Examples
--------
>>> from lookalike.models import registry
>>> registry.get("vae").__name__
'VAEGenerator'
"""
