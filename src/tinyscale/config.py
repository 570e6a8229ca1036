"""Config validation: a JSON schema with defaults, and errors that name the key.

``validate(config)`` fills in every default of the schema and returns the
config, or raises ConfigError for the first problem, e.g.::

    config key 'robustness.eps[1]': -0.1 is less than the minimum of 0
"""
from __future__ import annotations

import copy
import importlib
from pathlib import Path

import jsonschema
import yaml

from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    """A validator class that sets missing properties to their schema default."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for key, sub in props.items():
                if "default" in sub and key not in instance:
                    instance[key] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


def _key(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        where = _key(list(err.absolute_path) + extra[:1])
        return f"config key '{where}': unknown key (allowed here: {', '.join(allowed)})"
    if err.validator == "oneOf" and err.context:
        return _message(jsonschema.exceptions.best_match(err.context))
    return f"config key '{_key(err.absolute_path)}': {err.message}"


def typed_override(value):
    """A nested --config value with its scalars typed as YAML reads them: Snakemake
    reads the scalars inside a dict or list as strings (``training={seeds: [0, 1]}``
    gives ``["0", "1"]``). Other values come back unchanged."""
    if isinstance(value, dict):
        return {key: typed_override(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed_override(item) for item in value]
    if isinstance(value, str):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if parsed is None or isinstance(parsed, (bool, int, float)) else value
    return value


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The schema, with each ``$defs`` entry marked ``x-overrides-of: <def>`` given that
    def's properties without their defaults (an override names only what it changes)."""
    schema = yaml.safe_load(path.read_text())
    defs = schema.get("$defs", {})
    for sub in defs.values():
        if "x-overrides-of" in sub:
            base = defs[sub["x-overrides-of"]]["properties"]
            sub["properties"] = {k: {kk: vv for kk, vv in v.items() if kk != "default"}
                                 for k, v in base.items()}
    return schema


def format_eps(eps: float) -> str:
    """The eps as it appears in file names (``0.02`` -> ``"0.02"``)."""
    return f"{eps:g}"


def validate(config: dict, schema: dict | None = None) -> dict:
    """Fill defaults into ``config`` (in place) and check it; returns it."""
    schema = schema or load_schema()
    cls = _with_defaults(jsonschema.validators.validator_for(schema))
    # defaults go in first (this pass may report errors before all are set) ...
    errors = list(cls(schema).iter_errors(config))
    # ... then a clean pass reports the first error on the completed config
    errors = errors and list(cls(schema).iter_errors(config))
    if errors:
        raise ConfigError(_message(jsonschema.exceptions.best_match(errors)))
    _check_semantics(config, schema)
    return config


def study_names(schema: dict) -> list[str]:
    """The studies the schema knows: its top-level blocks marked ``x-study``, in its order."""
    return [name for name, sub in schema["properties"].items() if sub.get("x-study")]


def _check_semantics(config: dict, schema: dict) -> None:
    """What a schema cannot say: the core's checks here, each study's in its
    ``tinyscale.<study>.settings.check(block, config)`` (a module that imports nothing
    heavy: the Snakefile validates the config at every start)."""
    known = study_names(schema)
    if config.get("studies") is None:
        config["studies"] = list(known)
    unknown = [s for s in config["studies"] if s not in known]
    if unknown:
        raise ConfigError(f"config key 'studies': unknown study {unknown[0]!r} (known: {', '.join(known)})")
    launch = config["launch"]
    if config["device"] == "xla" and launch["launcher"] != "python":
        raise ConfigError("config key 'launch.launcher': device xla trains under torch_xla.launch "
                          "(a process per XLA device); leave launcher at python")
    if launch["launcher"] == "python" and launch["nproc_per_node"] * launch["nnodes"] > 1:
        raise ConfigError("config key 'launch.launcher': python starts one process; use torchrun "
                          "for nproc_per_node or nnodes > 1")
    for study in known:
        try:
            settings = importlib.import_module(f"tinyscale.{study}.settings")
        except ModuleNotFoundError:
            continue
        settings.check(config[study], config)
