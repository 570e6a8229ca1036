"""Config validation: a JSON schema with defaults, and errors that name the key.

``validate(config)`` fills in every default of the schema and returns the
config, or raises ConfigError for the first problem, e.g.::

    config key 'robustness.eps[1]': -0.1 is less than the minimum of 0
"""
from __future__ import annotations

import copy
from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    pass


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


def check_samples(dataset_path: str | Path, samples: int) -> None:
    """Raise ConfigError (naming ``robustness.samples``) if the dataset's test
    split has fewer than ``samples`` images.

    Cheap: reads only the test labels. Does nothing while the dataset does not
    exist yet, or cannot be read (the rule that reads it reports that, and a
    rerun rebuilds it), so a dry run can call it.
    """
    from .idx import DataError  # numpy only: the Snakefile calls this at every start
    from .io import load_npz

    path = Path(dataset_path)
    if not path.is_file():
        return
    try:
        n_test = len(load_npz(path, ["y_test"])["y_test"])
    except DataError:
        return
    if samples > n_test:
        raise ConfigError(f"config key 'robustness.samples': {samples} samples asked for but the "
                          f"test split of {path} has only {n_test} images")


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    return yaml.safe_load(path.read_text())


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
    _check_semantics(config)
    return config


def _check_semantics(config: dict) -> None:
    """What a schema cannot say."""
    labels = [format_eps(e) for e in config["robustness"]["eps"]]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"config key 'robustness.eps': values {labels} collide in file names")
    launch = config["launch"]
    if config["device"] == "xla" and launch["launcher"] != "python":
        raise ConfigError("config key 'launch.launcher': device xla trains under torch_xla.launch "
                          "(a process per XLA device); leave launcher at python")
    if launch["launcher"] == "python" and launch["nproc_per_node"] * launch["nnodes"] > 1:
        raise ConfigError("config key 'launch.launcher': python starts one process; use torchrun "
                          "for nproc_per_node or nnodes > 1")
    data = config["data"]
    if data["source"] == "mnist":
        if not data["mnist_dir"]:
            raise ConfigError("config key 'data.mnist_dir': required when data.source is 'mnist'")
        if not Path(data["mnist_dir"]).is_dir():
            raise ConfigError(f"config key 'data.mnist_dir': folder {data['mnist_dir']!r} does not exist")
    scaling = config["scaling"]
    if scaling["model"] is not None and scaling["model"] not in config["training"]["models"]:
        raise ConfigError(f"config key 'scaling.model': {scaling['model']!r} is not one of training.models")
    for name, recipe in config["training"]["models"].items():
        if recipe["select"] == "best_adversarial" and not (recipe["adversarial"] or config["training"]["eval_attack"]):
            raise ConfigError(f"config key 'training.models.{name}.select': best_adversarial needs an attack")
        if recipe["lr_schedule"] == "cosine" and recipe["lr_min"] > recipe["lr"]:
            raise ConfigError(f"config key 'training.models.{name}.lr_min': larger than lr ({recipe['lr']})")
