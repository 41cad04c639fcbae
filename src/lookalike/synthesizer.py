"""The :class:`Synthesizer` facade: schema -> encoder -> generator -> decode -> copy guard.

>>> from lookalike import Synthesizer
>>> syn = Synthesizer(generator="linear", random_state=0).fit(df)  # doctest: +SKIP
>>> synthetic = syn.sample(1000)  # doctest: +SKIP
>>> syn.save("model/"); Synthesizer.load("model/").sample(10, seed=1)  # doctest: +SKIP

Repeated ``sample(n)`` calls without ``seed`` continue one random stream (so they give
different rows); that stream starts from a seed fixed at ``fit`` and stored in the model
file, so a loaded model samples the same rows as the fitted one did. ``sample(n, seed=s)``
is reproducible on its own and does not move the stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import pandas as pd

from lookalike.encoding.base import Protection
from lookalike.encoding.table import DP_THRESHOLD_SHARE, TableEncoder
from lookalike.errors import (
    GenerationError,
    InvalidDataError,
    InvalidParameterError,
    NotFittedError,
    data_source,
)
from lookalike.io import read_table
from lookalike.models import registry
from lookalike.models.base import BaseGenerator, EncodedData, Layout
from lookalike.privacy.guard import GUARD_MODES, CopyGuard
from lookalike.random import RandomState, check_random_state, seed_int
from lookalike.schema import Schema, infer
from lookalike.synthesizer_sampling import Sampler

log = logging.getLogger(__name__)

_OWN_PARAMS = ("generator", "random_state", "rare_k", "clip_quantiles", "copy_guard", "target")


def _lib_versions() -> dict[str, str]:
    out = {}
    for pkg in ("lookalike", "numpy", "pandas", "scikit-learn", "torch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out


class Synthesizer:
    """Learn a table and generate synthetic rows like it.

    Parameters
    ----------
    generator : name of a registered generator (``lookalike.models.registry.available()``).
    random_state : None, int or numpy Generator; all randomness flows from it.
    rare_k : categories seen fewer than ``rare_k`` times are never emitted (see
        :mod:`lookalike.encoding.categorical`); numeric extremes are clipped so that at least
        ``rare_k`` rows lie at or beyond each bound.
    clip_quantiles : quantile range numeric and datetime values are clipped to.
    copy_guard : ``"all"`` (default) drops synthetic rows identical to a training row and
        samples again; ``"rare"`` only copies of rows occurring fewer than ``rare_k`` times;
        ``"off"``. See :mod:`lookalike.privacy.guard`.
    target : optional name of the prediction-target column (used by some generators and as
        the default ``balance`` column).
    **generator_params : parameters of the chosen generator.
    """

    def __init__(self, generator: str = "linear", *, random_state: RandomState = None,
                 rare_k: int = 5, clip_quantiles: tuple[float, float] = (0.001, 0.999),
                 copy_guard: str = "all", target: str | None = None,
                 **generator_params: Any) -> None:
        self.generator = generator
        self.random_state = random_state
        self.rare_k = rare_k
        self.clip_quantiles = clip_quantiles
        self.copy_guard = copy_guard
        self.target = target
        self.generator_params = generator_params

    # -- scikit-learn parameter conventions --------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in _OWN_PARAMS}
        params.update(self.generator_params)
        return params

    def set_params(self, **params: Any) -> Synthesizer:
        for key, value in params.items():
            if key in _OWN_PARAMS:
                setattr(self, key, value)
            else:
                self.generator_params[key] = value
        return self

    def _check_params(self) -> type[BaseGenerator]:
        cls = registry.get(self.generator)
        if not isinstance(self.rare_k, int) or isinstance(self.rare_k, bool) or self.rare_k < 1:
            raise InvalidParameterError(
                f"The 'rare_k' parameter of Synthesizer must be an int in [1, inf); "
                f"got {self.rare_k!r}."
            )
        lo, hi = tuple(self.clip_quantiles)
        if not 0.0 <= lo < hi <= 1.0:
            raise InvalidParameterError(
                "The 'clip_quantiles' parameter of Synthesizer must be (low, high) with "
                f"0 <= low < high <= 1; got {self.clip_quantiles!r}."
            )
        if self.copy_guard not in GUARD_MODES:
            raise InvalidParameterError(
                f"The 'copy_guard' parameter of Synthesizer must be one of {GUARD_MODES}; "
                f"got {self.copy_guard!r}."
            )
        allowed = set(cls._param_names())
        unknown = sorted(set(self.generator_params) - allowed)
        if unknown:
            raise InvalidParameterError(
                f"Unknown parameter(s) {unknown} for generator {self.generator!r}; it takes "
                f"{sorted(allowed)}."
            )
        return cls

    # -- fitting -----------------------------------------------------------------------
    def fit(self, data: pd.DataFrame | str | os.PathLike[str],
            schema: Schema | None = None) -> Synthesizer:
        """Learn ``data`` (a DataFrame or a CSV/Parquet path or folder); returns self.

        Problems with the data raise :class:`InvalidDataError` listing them all, prefixed
        with the path when ``data`` is one.
        """
        if not isinstance(data, pd.DataFrame):
            with data_source(data):
                return self.fit(read_table(data), schema)
        start = time.perf_counter()
        cls = self._check_params()
        df = read_table(data)
        protection = Protection(self.rare_k, tuple(self.clip_quantiles))
        schema = schema if schema is not None else infer(df, rare_k=self.rare_k)
        self._check_table(df, schema)
        rng = check_random_state(self.random_state)
        gen_rng, guard_rng = np.random.default_rng(seed_int(rng)), np.random.default_rng(
            seed_int(rng))
        sample_seed = seed_int(rng)

        gen_params = dict(self.generator_params)
        joint = cls.uses_dp_ledger(gen_params)
        plan = dp_plan(gen_params.get("dp"), len(df),
                       default_share=JOINT_ENCODING_SHARE if joint else SPLIT_ENCODING_SHARE)
        whole_ledger = None
        pair_sigma = pair_share = None
        if plan is not None:
            pair_share = pair_plan(gen_params["dp"], joint and cls.calibrates_pairs, plan[2])
        if plan is None:
            encoder = TableEncoder(schema, protection).fit(df)
        else:
            from lookalike.privacy import PrivacyLedger

            eps, delta, share = plan
            ledger = encoding_ledger(eps, delta, share, joint=joint)
            encoder = TableEncoder(schema, protection).fit(
                df, dp_ledger=ledger, dp_rng=np.random.default_rng(seed_int(rng)))
            if joint:  # one accountant for the whole fit; the generator adds its mechanism
                whole_ledger = PrivacyLedger(eps, delta)
                for event in ledger.events:
                    whole_ledger.spend(event)
                gen_params["dp"] = {**gen_params["dp"], "epsilon": eps, "delta": delta}
                pair_sigma = reserve_pairs(whole_ledger, encoder, eps, delta, pair_share,
                                           len(df))
            else:
                spent = ledger.spent
                gen_params["dp"] = {**gen_params["dp"], "epsilon": eps - spent.epsilon,
                                    "delta": delta - spent.delta}
            gen_params["dp"].pop("encoding_share", None)
            gen_params["dp"].pop("pair_share", None)
        canonical = encoder.prepare(df)
        layout = self._layout(encoder, cls.view)
        if cls.view == "continuous":
            values = encoder.encode_continuous(canonical)
        else:
            values = encoder.encode_tokens(canonical)
        gen = cls(**gen_params)
        priors = encoder.dp_slot_priors() if plan is not None and cls.view == "tokens" else None
        gen.fit(EncodedData(values=values, layout=layout, privacy_ledger=whole_ledger,
                            slot_priors=priors), gen_rng)
        if pair_sigma is not None or (plan is None and cls.calibrates_pairs):
            from lookalike.encoding import pairs

            pair_rng = np.random.default_rng(seed_int(rng))
            pool = gen.sample(min(pairs.SELECTION_ROWS, max(1000, len(df))), pair_rng)
            if pair_sigma is not None:  # DP: noisy tables on the reserved budget
                encoder.calibration_pairs_ = pairs.release_pairs(
                    encoder, values, pool, sigma=pair_sigma, rng=pair_rng,
                    max_groups=pairs.groups_for(len(df), pair_sigma))
            else:  # no DP: the training table's own shares, for sample(calibrate=True)
                encoder.exact_marginals_ = pairs.exact_marginals(encoder, values)
                encoder.calibration_pairs_ = pairs.release_pairs(
                    encoder, values, pool, sigma=0.0, rng=pair_rng, min_count=self.rare_k)

        self.schema_ = schema
        self.encoder_ = encoder
        self.generator_ = gen
        self.guard_ = CopyGuard.fit(canonical[encoder.modelled_columns], guard_rng,
                                    mode=self.copy_guard, rare_k=self.rare_k)
        self.sample_seed_ = sample_seed
        self.sample_rng_ = np.random.default_rng(sample_seed)
        self.fingerprint_ = {
            "n_rows": int(len(df)),
            "n_columns": int(df.shape[1]),
            "sha256": hashlib.sha256(
                pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes()
            ).hexdigest(),
        }
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _layout(self, encoder: TableEncoder, view: str) -> Layout:
        if view == "continuous":
            return Layout(columns=tuple(encoder.modelled_columns),
                          column_slices=dict(encoder.column_slices_),
                          segments=tuple(encoder.segments), target=self.target)
        return Layout(columns=tuple(encoder.modelled_columns),
                      column_slices=dict(encoder.token_slices_),
                      token_slots=tuple(encoder.token_slots), target=self.target)

    def _check_table(self, df: pd.DataFrame, schema: Schema) -> None:
        n_rows, n_cols = df.shape
        problems = []
        if n_rows < max(2, self.rare_k):
            problems.append(
                f"the table has {n_rows} row(s); at least {max(2, self.rare_k)} are needed "
                f"(and many more for a useful model) so that no value belongs to one person "
                f"only (rare_k={self.rare_k})."
            )
        if n_cols > n_rows:
            problems.append(
                f"the table has more columns ({n_cols}) than rows ({n_rows}): too few rows "
                "to learn how the columns relate. Add rows or drop columns."
            )
        if set(schema.names) != {str(c) for c in df.columns}:
            problems.append(
                f"the schema's columns {schema.names} differ from the table's "
                f"{list(df.columns)}; infer the schema from this table or edit it."
            )
        if self.target is not None and self.target not in schema:
            problems.append(
                f"the target column {self.target!r} is not in the table; columns are "
                f"{schema.names}."
            )
        if not schema.modelled:
            problems.append("no column can be modelled (all are keys, constants or excluded "
                            "text).")
        if n_rows >= 2:
            problems += [constant_column_problem(spec.name, df[spec.name])
                         for spec in schema.modelled if spec.name in df.columns
                         and df[spec.name].nunique(dropna=False) == 1]
        if problems:
            raise InvalidDataError(problems)

    # -- sampling ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "generator_"):
            raise NotFittedError(
                "This Synthesizer is not fitted yet: call fit(data) or Synthesizer.load(path)."
            )

    def sample(self, n: int | None = None, seed: int | None = None, *,
               balance: str | None = None, weights: dict[str, dict[Any, float]] | None = None,
               seed_data: pd.DataFrame | None = None,
               rebalance: dict[str, dict[Any, float]] | None = None,
               fairness: dict[str, str] | str | None = None,
               copy_guard: str | None = None, calibrate: bool | None = None,
               **options: Any) -> pd.DataFrame:
        """Generate ``n`` synthetic rows.

        Parameters
        ----------
        n : number of rows (defaults to ``len(seed_data)`` when that is given).
        seed : makes this call reproducible on its own (the model's stream is untouched).
        balance : a categorical column whose categories should each get ``n / C`` rows
            (``"target"`` means the ``target`` parameter's column).
        weights : ``{column: {category: share}}`` for one column: the given categories get
            these shares, the others share the rest in their original proportions.
        rebalance : alias of ``weights`` (the autoregressive generator's name for it).
        seed_data : conditional generation: the given columns are kept, the others generated
            consistently with them (generators with conditional support only).
        fairness : ``{"target": "income", "sensitive": "sex"}`` (or just the sensitive
            column's name, with the ``target`` parameter's column): the target is drawn
            again from the model's conditional, tilted so that it is independent of the
            sensitive column (demographic parity; :mod:`lookalike.fairness` has the method).
            Generators with full conditionals only (``autoregressive``).
        copy_guard : ``None`` (default) checks rows with the guard the model was trained
            with (the ``copy_guard`` parameter); ``"off"`` skips it for this call. Another
            mode needs a model fitted with it (the guard keeps only the hashes its mode needs).
        calibrate : ``True``: a plain ``sample(n)`` keeps n rows of a larger generated
            pool (3n under DP, 1.25n-3n otherwise, as the weights need) that best match the
            model's calibration targets (bounded raking, see
            :mod:`lookalike.synthesizer_sampling`): under DP the per-column marginals the
            encoder released and the autoregressive model's DP 2-way tables
            (:mod:`lookalike.encoding.pairs`; no further privacy cost); without DP an
            autoregressive model's training shares and exact 2-way tables (on Adult QA
            accuracy 0.981 -> 0.987, about 4 times slower sampling). ``None`` (default):
            ``True`` for models fitted under DP, ``False`` otherwise; ``False``: the model's
            rows as drawn. Not applied with ``balance``, ``weights``, ``seed_data`` or
            ``fairness``, which change the marginals on purpose.
        **options : generator sampling options (e.g. ``temperature``, ``top_p``).
        """
        self._check_fitted()
        if weights is not None and rebalance is not None:
            raise InvalidParameterError("Give either 'weights' or 'rebalance', not both.")
        weights = weights if weights is not None else rebalance
        if n is None:
            if seed_data is None:
                raise InvalidParameterError("sample() needs n (the number of rows to generate).")
            n = len(seed_data)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise InvalidParameterError(f"n must be a positive integer; got {n!r}.")
        rng = self.sample_rng_ if seed is None else check_random_state(seed)
        sampler = Sampler(self.encoder_, self.generator_, self._guard_for(copy_guard),
                          self.schema_, target=self.target)
        out = sampler.sample(int(n), rng, balance=balance, weights=weights,
                             seed_data=seed_data, options=options, fairness=fairness,
                             calibrate=calibrate)
        self.last_sample_info_ = sampler.info
        return out

    def _guard_for(self, copy_guard: str | None) -> CopyGuard | None:
        """The guard one sample() call uses (see its ``copy_guard`` option)."""
        if copy_guard is None or copy_guard == self.copy_guard:
            return self.guard_
        if copy_guard == "off":
            return CopyGuard(np.zeros(0, dtype=np.uint64), "", "off")
        raise InvalidParameterError(
            f"The 'copy_guard' option of sample() must be 'off' or this model's own mode "
            f"{self.copy_guard!r}; got {copy_guard!r}. A model with copy_guard={copy_guard!r} "
            "has to be trained with it (config key copy_guard)."
        )

    def impute(self, df: pd.DataFrame, seed: int | None = None, **options: Any) -> pd.DataFrame:
        """Fill the missing cells of real rows ``df`` plausibly, keeping every given cell."""
        self._check_fitted()
        rng = self.sample_rng_ if seed is None else check_random_state(seed)
        sampler = Sampler(self.encoder_, self.generator_, self.guard_, self.schema_,
                          target=self.target)
        return sampler.impute(read_table(df), rng, options=options)

    # -- persistence -------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str], *, include_guard: bool = True) -> None:
        """Write the model (JSON + safetensors; see :mod:`lookalike.persistence`)."""
        from lookalike.persistence import to_files

        self._check_fitted()
        to_files(self, path, include_guard=include_guard)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Synthesizer:
        """Read a model written by :meth:`save`; never executes code from the file."""
        from lookalike.persistence import from_files

        return from_files(cls, path)

    def privacy_report(self) -> dict[str, Any]:
        """What protects the people in the training data (saved in the model file).

        Under DP the encoder's statistics and the generator's training are two mechanisms
        on the same rows. Generators that compose in the whole fit's ledger
        (:meth:`~lookalike.models.base.BaseGenerator.uses_dp_ledger`) report its composed
        total (an event with ``epsilon_total``), which is then ``epsilon_spent`` /
        ``delta_spent``; otherwise the two (epsilon, delta) add up (basic sequential
        composition, Dwork and Roth 2014, Theorem 3.16).
        """
        self._check_fitted()
        events = list(self.generator_.privacy_events())
        eps = [float(e["epsilon"]) for e in events if e.get("epsilon") is not None]
        deltas = [float(e.get("delta") or 0.0) for e in events if e.get("epsilon") is not None]
        encoding = getattr(self.encoder_, "privacy_", None)
        if encoding is not None:
            eps.append(float(encoding["spent"]["epsilon"]))
            deltas.append(float(encoding["spent"]["delta"]))
        whole = [e for e in events if e.get("epsilon_total") is not None]
        if whole:  # composed with the encoder in one ledger: that total is the guarantee
            eps, deltas = [float(whole[-1]["epsilon_total"])], [float(whole[-1]["delta_total"])]
        return {
            "differential_privacy": bool(eps),
            "epsilon_spent": float(sum(eps)) if eps else None,
            "delta_spent": float(sum(deltas)) if eps else None,
            "encoding_ledger": encoding,
            "events": events,
            "protection": {"rare_k": self.rare_k, "clip_quantiles": list(self.clip_quantiles),
                           "copy_guard": self.copy_guard},
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                           if k == "generator" or v is not None)
        return f"Synthesizer({params})"


def constant_column_problem(name: str, column: pd.Series) -> str:
    """The message for a modelled column that holds one value in every row."""
    value = column.iloc[0]
    if pd.isna(value):
        return (f"column {name!r} is entirely missing: drop it, or declare it in a config "
                "file if more data will come.")
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, (str, int, float, bool)):
        value = str(value)
    declare = json.dumps({"columns": {name: {"kind": "constant", "value": value}}})
    return (f"column {name!r} holds one value ({value!r}) in every row: there is nothing "
            "to learn from it. Drop the column, or declare it constant so that every "
            f"synthetic row gets the value verbatim (config file: {declare}).")


def dp_plan(dp: Any, n_rows: int, *,
            default_share: float = 0.1) -> tuple[float, float, float] | None:
    """Validate a ``dp`` parameter; returns (epsilon, delta, encoding share) or None.

    ``dp = {"epsilon": e, "delta": d or None, "encoding_share": s}``: the whole fit is
    (e, d)-DP; a share ``s`` (default ``default_share``) goes to the encoder's statistics
    (bounds, quantile bins, category lists), the rest to the generator's training (see
    :func:`encoding_ledger` for what the share means). ``delta`` defaults to ``1 / (10 n)``
    (n = training rows, treated as public).
    """
    if dp is None:
        return None
    if not isinstance(dp, dict) or "epsilon" not in dp:
        raise InvalidParameterError(
            f"The 'dp' parameter must be None or a dict with 'epsilon' (and optionally "
            f"'delta', 'encoding_share'); got {dp!r}."
        )
    unknown = sorted(set(dp) - {"epsilon", "delta", "encoding_share", "pair_share"})
    if unknown:
        raise InvalidParameterError(
            f"Unknown key(s) {unknown} in 'dp'; allowed: epsilon, delta, encoding_share, "
            "pair_share."
        )
    eps = dp["epsilon"]
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps < float("inf"):
        raise InvalidParameterError(
            f"The 'epsilon' of 'dp' must be a float in (0, inf); got {eps!r}."
        )
    delta = dp.get("delta")
    delta = 1.0 / (10 * n_rows) if delta is None else delta
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise InvalidParameterError(f"The 'delta' of 'dp' must be in (0, 1); got {delta!r}.")
    share = dp.get("encoding_share", default_share)
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1:
        raise InvalidParameterError(
            f"The 'encoding_share' of 'dp' must be in (0, 1); got {share!r}."
        )
    return float(eps), float(delta), float(share)


#: share of mu^2 spent on 2-way marginals for calibration (lookalike.encoding.pairs) by
#: token generators that compose in one ledger. On Adult at epsilon = 1 (autoregressive,
#: bench/ar_dp_seeds.py, QA accuracy as mostlyai-qa, seeds 0/1): no pairs 0.9548/0.9535,
#: one tree at 0.15 0.9566/0.9555, seven trees at 0.35 0.9624/0.9608, at 0.25 0.9632/0.9614
#: (table in bench/EVALUATION.md).
JOINT_PAIR_SHARE = 0.25


def pair_plan(dp: dict[str, Any], supported: bool, encoding_share: float) -> float | None:
    """The share of mu^2 for released 2-way marginals (None: none are released).

    ``supported``: the generator is a token model that composes in the fit's ledger (the
    autoregressive model with the default RDP accountant). ``dp["pair_share"]`` = 0 turns
    the release off; a positive share needs such a generator.
    """
    share = dp.get("pair_share")
    if share is None:
        return JOINT_PAIR_SHARE if supported and encoding_share + JOINT_PAIR_SHARE < 1 else None
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share < 1:
        raise InvalidParameterError(f"The 'pair_share' of 'dp' must be in [0, 1); got {share!r}.")
    if share == 0:
        return None
    if not supported:
        raise InvalidParameterError(
            "'pair_share' needs a token generator that composes its training in the fit's "
            "privacy ledger (the autoregressive model with accountant='rdp'); remove it.")
    if encoding_share + share >= 1:
        raise InvalidParameterError(
            f"'encoding_share' + 'pair_share' of 'dp' must stay below 1 (the rest trains the "
            f"generator); got {encoding_share} + {share}.")
    return float(share)


def reserve_pairs(ledger: Any, encoder: Any, epsilon: float, delta: float,
                  share: float | None, n_rows: int) -> float | None:
    """Charge the 2-way marginals' Gaussian events on ``ledger`` before the generator
    calibrates its noise; returns their noise level (None when none are released).

    One table per edge of ``PAIR_TREES`` spanning trees over the columns with released 1-way
    shares (``k`` tables); they get ``share`` of the budget's ``mu^2`` (GDP budgeting as in
    :func:`encoding_ledger`), equally: ``sigma = sqrt(k / share) / mu``. Nothing is
    reserved (the share stays with the generator) with more than ``MAX_PAIR_COLUMNS``
    such columns or too few rows for tables above the noise
    (:func:`~lookalike.encoding.pairs.groups_for`).
    """
    from lookalike.encoding.pairs import MAX_PAIR_COLUMNS, PAIR_TREES, groups_for
    from lookalike.privacy import gdp
    from lookalike.privacy.events import GaussianEvent

    n_cols = len(encoder.dp_marginals())
    k = PAIR_TREES * (n_cols - 1)
    if share is None or k < 1:
        return None
    if n_cols > MAX_PAIR_COLUMNS:
        log.info("no 2-way marginals released: %d columns (more than %d); their budget "
                 "share goes to the generator.", n_cols, MAX_PAIR_COLUMNS)
        return None
    sigma = math.sqrt(k / share) / gdp.mu_from_epsilon_delta(epsilon, delta)
    if not groups_for(n_rows, sigma):  # too few rows for tables above the noise
        log.info("no 2-way marginals released: %d rows are too few for noise sigma %.1f; "
                 "their budget share goes to the generator.", n_rows, sigma)
        return None
    for i in range(k):
        ledger.spend(GaussianEvent(sigma, 1.0, label=f"2-way marginal {i + 1} of {k}"))
    return sigma


#: the encoder's share of a DP budget split by basic composition (see encoding_ledger)
SPLIT_ENCODING_SHARE = 0.1
#: the encoder's share of mu^2 when it composes with the generator in one ledger. On Adult
#: at epsilon = 1 (autoregressive, hidden 128, 4 seeds, bench/sweep_ar_dp.py): 0.1 -> QA
#: accuracy 0.955 / TSTR AUC 0.885, 0.2 -> 0.957 / 0.890 (calibrated samples, mean of 4).
JOINT_ENCODING_SHARE = 0.2


def encoding_ledger(epsilon: float, delta: float, share: float, *, joint: bool) -> Any:
    """The ledger that holds the encoder's part of a DP fit's budget (epsilon, delta).

    Split (``joint=False``): the encoder gets ``(share * epsilon, share * delta)`` and the
    generator the rest; the two add up by basic composition.

    Joint (``joint=True``, the generator composes in the whole fit's ledger): the encoder's
    releases are Gaussian, so they are budgeted in Gaussian DP (Dong, Roth and Su 2019):
    the whole budget is ``mu`` = :func:`~lookalike.privacy.gdp.mu_from_epsilon_delta`
    ``(epsilon, delta)`` and the encoder gets ``sqrt(share) * mu`` (a ``share`` of ``mu^2``,
    which adds up under composition, their Corollary 3.3), expressed as an (epsilon, delta)
    budget at ``share * delta``. Only the budgeting uses GDP: the guarantee is whatever the
    whole fit's ledger composes (RDP with the generator's DP-SGD), checked against
    ``(epsilon, delta)``. On Adult at epsilon = 1 this gives the encoder about 3 times the
    ``mu`` of the split, while DP-SGD's noise multiplier drops from 6.75 to 6.49.
    """
    from lookalike.privacy import PrivacyLedger, gdp

    if not joint:
        return PrivacyLedger(epsilon * share, delta * share)
    enc_delta = delta * share
    mu = math.sqrt(share) * gdp.mu_from_epsilon_delta(epsilon, delta)
    enc_eps = gdp.epsilon_from_mu(mu, enc_delta * (1.0 - DP_THRESHOLD_SHARE))
    return PrivacyLedger(enc_eps, enc_delta)


def library_versions() -> dict[str, str]:
    return _lib_versions()


__all__ = ["Synthesizer", "GenerationError"]
