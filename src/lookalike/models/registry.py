"""Generator registry: name -> class. Adding a generator touches one line here.

Classes are imported lazily, so ``import lookalike`` never pulls in torch.
"""

from __future__ import annotations

import importlib

from lookalike.errors import InvalidParameterError

_GENERATORS: dict[str, str] = {
    "autoregressive": "lookalike.models.autoregressive:AutoregressiveGenerator",
    "clustmix": "lookalike.models.clustmix:ClustMix",
    "independent": "lookalike.models.independent:IndependentMarginals",
    "linear": "lookalike.models.linear_encoding:LinearEncoding",
    "vae": "lookalike.models.deep.vae:VAEGenerator",
    "gan": "lookalike.models.deep.gan:GANGenerator",
    "medgan": "lookalike.models.deep.medgan:MedGANGenerator",
    "dp-vae": "lookalike.models.deep.dp_vae:DPVAEGenerator",
    "dp-gan": "lookalike.models.deep.dp_gan:DPGANGenerator",
    "dp-merf": "lookalike.models.deep.dp_merf:DPMERFGenerator",
    "pate-gan": "lookalike.models.deep.pate_gan:PATEGANGenerator",
}


def available() -> list[str]:
    """Names of the registered generators."""
    return sorted(_GENERATORS)


def get(name: str) -> type:
    """The generator class registered under ``name``."""
    try:
        target = _GENERATORS[name]
    except KeyError:
        raise InvalidParameterError(
            f"Unknown generator {name!r}; choose one of {', '.join(available())}."
        ) from None
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
