"""Any-order autoregressive generator over the token view (the flagship model).

``AutoregressiveGenerator`` lives in :mod:`.generator`; the network (:mod:`.model`), its
training (:mod:`.train`), sizing (:mod:`.plan`) and sampling (:mod:`.sampling`) import
torch and are loaded only when a model is fitted or loaded.
"""

from lookalike.models.autoregressive.generator import AutoregressiveGenerator

__all__ = ["AutoregressiveGenerator"]
