"""Explicit randomness: every random draw comes from a generator passed down by the caller.

Nothing in lookalike seeds the global state of numpy, ``random`` or torch.
"""

from __future__ import annotations

import numbers

import numpy as np

from lookalike.errors import InvalidParameterError

RandomState = int | np.random.Generator | np.random.SeedSequence | None


def check_random_state(random_state: RandomState) -> np.random.Generator:
    """Turn ``random_state`` into a ``numpy.random.Generator``.

    ``None`` gives fresh OS entropy, an int or SeedSequence a reproducible generator, and an
    existing Generator is returned as is (so the caller's stream advances).

    >>> int(check_random_state(0).integers(10))
    8
    """
    if random_state is None or isinstance(random_state, np.random.SeedSequence):
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise InvalidParameterError(
                f"The 'random_state' parameter must be a non-negative int; got {random_state}."
            )
        return np.random.default_rng(int(random_state))
    raise InvalidParameterError(
        "The 'random_state' parameter must be None, a non-negative int or a "
        f"numpy.random.Generator; got {random_state!r}."
    )


def spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """Return ``n`` independent child generators drawn from ``rng``'s stream."""
    seeds = rng.integers(0, 2**63 - 1, size=n, dtype=np.int64)
    return [np.random.default_rng(int(s)) for s in seeds]


def draw_rows(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row of ``weights`` (n, K), drawn with probability proportional to
    the row's non-negative weights (inverse CDF against the row's total; one uniform per row).

    Examples
    --------
    >>> draw_rows(np.array([[0.0, 2.0], [5.0, 0.0]]), np.random.default_rng(0)).tolist()
    [1, 0]
    """
    cdf = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cdf[:, -1]
    return np.minimum((cdf < u[:, None]).sum(axis=1), weights.shape[1] - 1)


def seed_int(rng: np.random.Generator) -> int:
    """Draw one 63-bit seed from ``rng`` (for libraries that take an int, like torch)."""
    return int(rng.integers(0, 2**63 - 1, dtype=np.int64))


def torch_generator(rng: np.random.Generator, device: str = "cpu"):
    """A ``torch.Generator`` seeded from ``rng`` (torch is imported lazily)."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(seed_int(rng))
    return gen
