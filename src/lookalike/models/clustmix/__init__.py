"""ClustMix: the 3A framework (Approximate, Adapt, Anonymize) of Madl et al. (2023).

See :mod:`lookalike.models.clustmix.generator` for the method and its two accounting modes.
Importing this package does not import torch (the KIP step imports it when it runs).
"""

from lookalike.models.clustmix.generator import ClustMix

__all__ = ["ClustMix"]
