"""Model files: a directory (or a ``.zip`` of one) holding JSON and safetensors only.

Layout::

    model/
      schema.json          the Schema (plain JSON, as `lookalike schema` prints)
      model.json           format version, generator name and params, library versions,
                           seed, training-data fingerprint (row count + SHA-256 of the data,
                           never data), privacy ledger, encoder and generator metadata,
                           and a human-readable model card
      arrays.safetensors   every numeric array (encoder statistics, weights)
      guard.safetensors    optional: salted row hashes for the exact-copy guard

Loading a file from a stranger executes no code: JSON is parsed by ``json``, arrays by
``safetensors`` (a header plus raw buffers; no pickle); anything else in the directory is
ignored. Files are written deterministically (sorted keys, fixed zip timestamps), so the
same model gives the same bytes, and atomically (a temporary directory renamed into place).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from lookalike.errors import ModelFileError

FORMAT = "lookalike-model"
FORMAT_VERSION = 1
FILES = ("schema.json", "model.json", "arrays.safetensors", "guard.safetensors")
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _dump_json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
            + "\n").encode("utf-8")


def _safetensors_bytes(arrays: dict[str, np.ndarray], metadata: dict[str, str] | None) -> bytes:
    from safetensors.numpy import save

    clean = {k: np.ascontiguousarray(v) for k, v in sorted(arrays.items())}
    return save(clean, metadata=metadata)


def save_model(path: str | os.PathLike[str], *, schema: dict[str, Any], model: dict[str, Any],
               arrays: dict[str, np.ndarray], guard: tuple[np.ndarray, str] | None) -> Path:
    """Write a model directory (or zip, if ``path`` ends in ``.zip``) atomically."""
    path = Path(path)
    files = {
        "schema.json": _dump_json(schema),
        "model.json": _dump_json({"format": FORMAT, "format_version": FORMAT_VERSION, **model}),
        "arrays.safetensors": _safetensors_bytes(arrays, None),
    }
    if guard is not None:
        hashes, salt = guard
        files["guard.safetensors"] = _safetensors_bytes({"hashes": hashes}, {"salt": salt})
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".zip":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, files[name])
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(tmp, path)
        return path
    if path.exists() and not path.is_dir():
        raise ModelFileError(f"{path} exists and is not a model directory; choose another path.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    os.chmod(tmp, 0o755)
    try:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _read_files(path: Path) -> dict[str, bytes]:
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file or directory.")
    if path.is_dir():
        return {n: (path / n).read_bytes() for n in FILES if (path / n).is_file()}
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            return {n: zf.read(n) for n in FILES if n in names}
    except zipfile.BadZipFile as exc:
        raise ModelFileError(
            f"{path} is neither a model directory nor a model zip; was it written by "
            "`lookalike train` / Synthesizer.save?"
        ) from exc


def _load_arrays(data: bytes, path: Path, name: str) -> tuple[dict[str, np.ndarray], dict]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        arrays = load(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise ModelFileError(
            f"{path}/{name} is not a valid safetensors file ({exc}); the model is corrupted "
            "or was tampered with. Retrain it or restore it from a backup."
        ) from exc
    meta: dict = {}
    try:
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {}) or {}
    except (ValueError, UnicodeDecodeError):
        meta = {}
    return arrays, meta


def _load_json(data: bytes, path: Path, name: str) -> dict[str, Any]:
    try:
        out = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(
            f"{path}/{name} is not valid JSON ({exc}); the model file is corrupted."
        ) from exc
    if not isinstance(out, dict):
        raise ModelFileError(f"{path}/{name} does not hold a JSON object; it is corrupted.")
    return out


def load_model(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a model file; returns dict(schema, model, arrays, guard) with guard possibly None."""
    path = Path(path)
    files = _read_files(path)
    for required in ("schema.json", "model.json", "arrays.safetensors"):
        if required not in files:
            raise ModelFileError(
                f"{path} lacks {required}: it is not a complete lookalike model."
            )
    model = _load_json(files["model.json"], path, "model.json")
    if model.get("format") != FORMAT:
        raise ModelFileError(f"{path}/model.json is not a lookalike model file.")
    version = model.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer lookalike (model format {version}; this version "
            f"reads up to {FORMAT_VERSION}). Upgrade lookalike: pip install -U lookalike."
        )
    schema = _load_json(files["schema.json"], path, "schema.json")
    arrays, _ = _load_arrays(files["arrays.safetensors"], path, "arrays.safetensors")
    guard = None
    if "guard.safetensors" in files:
        garrays, gmeta = _load_arrays(files["guard.safetensors"], path, "guard.safetensors")
        if "hashes" in garrays and "salt" in gmeta:
            guard = (garrays["hashes"], gmeta["salt"])
    return {"schema": schema, "model": model, "arrays": arrays, "guard": guard}


# -- Synthesizer <-> files -------------------------------------------------------------


def to_files(syn: Any, path: str | os.PathLike[str], *, include_guard: bool = True) -> Path:
    """Write a fitted :class:`~lookalike.Synthesizer` to ``path``."""
    from lookalike.synthesizer import library_versions

    enc_meta, enc_arrays = syn.encoder_.get_state()
    gen_meta, gen_arrays = syn.generator_.get_state()
    arrays = dict(enc_arrays)
    arrays.update({f"generator/{k}": v for k, v in gen_arrays.items()})
    params = {k: v for k, v in syn.get_params().items()}
    params["clip_quantiles"] = list(params["clip_quantiles"])
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None
    privacy = syn.privacy_report()
    model = {
        "generator": syn.generator,
        "params": params,
        "generator_params": syn.generator_.get_params(),
        "library_versions": library_versions(),
        "sample_seed": syn.sample_seed_,
        "training_data": syn.fingerprint_,
        "privacy": privacy,
        "encoder": enc_meta,
        "generator_state": gen_meta,
        "model_card": _model_card(syn, privacy),
    }
    guard = None
    if include_guard and syn.guard_ is not None:
        guard = (syn.guard_.hashes, f"{syn.guard_.mode}:{syn.guard_.salt}")
    return save_model(path, schema=syn.schema_.to_dict(), model=model, arrays=arrays,
                      guard=guard)


def _model_card(syn: Any, privacy: dict[str, Any]) -> dict[str, Any]:
    fp = syn.fingerprint_
    modelled = syn.encoder_.modelled_columns
    if privacy["differential_privacy"]:
        guarantee = (f"differentially private training, epsilon spent "
                     f"{privacy['epsilon_spent']}; see privacy.events")
    else:
        guarantee = ("no formal differential-privacy guarantee; protected by rare-category "
                     "merging, extreme-value clipping and the exact-copy guard")
        if syn.encoder_.calibration_pairs:
            guarantee += ("; the file holds the training table's token shares and 2-way "
                          "counts on coarse groups (cells under rare_k rows hidden) for "
                          "calibrated sampling")
    return {
        "summary": (f"lookalike {syn.generator!r} model trained on {fp['n_rows']} rows x "
                    f"{fp['n_columns']} columns ({len(modelled)} modelled)."),
        "columns": {c.name: c.kind for c in syn.schema_},
        "privacy": guarantee,
        "intended_use": "generating synthetic rows with the statistics of the training table",
        "limitations": "synthetic rows reflect the training data's biases and coverage",
    }


def from_files(cls: type, path: str | os.PathLike[str]) -> Any:
    """Rebuild a :class:`~lookalike.Synthesizer` from a model file."""
    from lookalike.encoding.table import TableEncoder
    from lookalike.models import registry
    from lookalike.privacy.guard import CopyGuard
    from lookalike.schema import Schema

    data = load_model(path)
    model, arrays = data["model"], data["arrays"]
    try:
        schema = Schema.from_dict(data["schema"])
        params = dict(model["params"])
        syn = cls(**{k: v for k, v in params.items()})
        syn.clip_quantiles = tuple(syn.clip_quantiles)
        gen_cls = registry.get(model["generator"])
        encoder = TableEncoder.from_state(schema, model["encoder"], arrays)
        layout = syn._layout(encoder, gen_cls.view)
        gen_arrays = {k[len("generator/"):]: v for k, v in arrays.items()
                      if k.startswith("generator/")}
        generator = gen_cls.from_state(model["generator_params"], model["generator_state"],
                                       gen_arrays, layout)
        sample_seed = int(model["sample_seed"])
        fingerprint = dict(model["training_data"])
    except ModelFileError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path}: the model file is corrupted or incomplete ({type(exc).__name__}: {exc})."
        ) from exc
    syn.schema_ = schema
    syn.encoder_ = encoder
    syn.generator_ = generator
    syn.guard_ = None
    if data["guard"] is not None:
        hashes, tag = data["guard"]
        mode, _, salt = tag.partition(":")
        syn.guard_ = CopyGuard(hashes, salt, mode)
    elif syn.copy_guard != "off":
        import logging

        logging.getLogger(__name__).warning(
            "%s has no guard file: samples are not checked for exact copies of training rows.",
            path,
        )
    syn.sample_seed_ = sample_seed
    syn.sample_rng_ = np.random.default_rng(sample_seed)
    syn.fingerprint_ = fingerprint
    return syn
