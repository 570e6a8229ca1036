"""Where a campaign's results came from: config files and their hashes, the git
commit, package versions, the devices the results name, the date and the command."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import shlex
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import yaml

from ..errors import ResultsError

PACKAGES = ["torch", "auto_LiRPA", "snakemake", "snakemake-executor-plugin-slurm", "numpy", "pandas", "scipy",
            "scikit-learn", "matplotlib", "seaborn", "reportlab", "python-pptx"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_sha256(config: dict) -> str:
    """Hash of the resolved config (files, overrides and defaults together)."""
    return sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode())


def git_state(repo: Path) -> dict:
    """The commit of the workflow's checkout and whether tracked files differ from it."""
    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
    head = git("rev-parse", "HEAD")
    if head.returncode != 0:
        return {"commit": "unknown (not a git checkout)", "dirty": False}
    dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip() != ""
    return {"commit": head.stdout.strip(), "dirty": dirty}


def package_versions(names=PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def host() -> dict:
    """The machine the report is built on (results name their own devices)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"hostname": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def result_devices(results: dict[str, list[Path]]) -> dict[str, list[str]]:
    """The devices result files record, by label (e.g. ``robustness training``): ``cpu x1``
    = kind x processes, from a JSON record's ``device`` and ``world_size`` or a CSV's columns
    of those names (or its ``devices`` column, as scaling tables have). Files that record no
    device (datasets, say) add nothing; a label with none is left out."""
    import pandas as pd  # here: the Snakefile imports this module at every start

    out = {}
    for label, paths in results.items():
        kinds: list[str] = []
        for path in map(Path, paths):
            if path.suffix == ".json":
                record = json.loads(path.read_text())
                if isinstance(record, dict) and "device" in record:
                    kinds.append(f"{record['device']} x{record.get('world_size', 1)}")
            elif path.suffix == ".csv":
                table = pd.read_csv(path)
                if {"device", "world_size"} <= set(table.columns):
                    kinds += [f"{d} x{w}" for d, w in zip(table["device"], table["world_size"])]
                elif "devices" in table.columns:
                    kinds += list(table["devices"])
        if kinds:
            out[label] = sorted(set(kinds)) if not label.endswith("scaling") else list(dict.fromkeys(kinds))
    return out


def shown_path(path, *bases) -> str:
    """A path relative to the working directory when it lies inside it, else to the
    first of ``bases`` that holds it, else absolute."""
    path = Path(path).absolute()
    for base in (Path.cwd(), *map(Path, bases)):
        if path.is_relative_to(base):
            return str(path.relative_to(base))
    return str(path)


def file_records(paths, checkout) -> list[dict]:
    """Config files with their sha256, shown relative to the working directory or else
    to the workflow's checkout, so that the record does not change with their place."""
    return [{"path": shown_path(p, checkout), "sha256": sha256(Path(p).read_bytes())} for p in paths]


def _config_value(value) -> str:
    """A --config value that Snakemake parses back to ``value`` (it reads values as YAML)."""
    if isinstance(value, str) and yaml.safe_load(value) == value:
        return value
    return json.dumps(value, separators=(",", ":"))


def rebuild_command(target: str, config_files, overrides: dict, profile: str | None = None) -> list[str]:
    """``snakemake <target> [--profile P] [--configfile F ...] [--config k=v ...]``.

    The target comes first: --configfile and --config take several values and
    would swallow a target written after them."""
    parts = ["snakemake", target]
    if profile:
        parts += ["--profile", profile]
    config_files = list(config_files)
    if config_files:
        parts += ["--configfile", *config_files]
    if overrides:
        parts += ["--config", *(f"{key}={_config_value(value)}" for key, value in overrides.items())]
    return parts


def run_profile(executor: str | None, device: str | None) -> str | None:
    """The profile whose commands fit a run: the Slurm executor's, the TPU host's
    (device xla), or none (the workflow profile, profiles/default, for one machine)."""
    if executor == "slurm":
        return "profiles/slurm"
    if device == "xla":
        return "profiles/tpu"
    return None


def with_profile(command: str, profile: str | None) -> str:
    """``command`` (from :func:`rebuild_command`, without a profile) run under ``profile``."""
    if not profile:
        return command
    parts = shlex.split(command)
    return shlex.join([*parts[:2], "--profile", profile, *parts[2:]])


def usage_commands(record: dict, target: str | None = None) -> list[str]:
    """The commands a reader of the report would type, under the profile its run used:
    the whole campaign, the report (as recorded) and, given a ``target`` (a pattern to
    fill in, not quoted for a shell), one result file."""
    profile = ["--profile", record["profile"]] if record.get("profile") else []
    commands = [shlex.join(["snakemake", "all", *profile]), record["command"]]
    return commands + ([" ".join(["snakemake", target, *profile])] if target else [])


def load(path: str | Path) -> dict:
    """A provenance record written by :func:`collect`, checked for the keys reports read."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ResultsError(f"{path}: not a readable JSON file ({err})") from None
    keys = ["config_name", "config_files", "config_sha256", "git", "packages", "devices", "date", "command"]
    missing = [k for k in keys if k not in record]
    if missing:
        raise ResultsError(f"{path}: missing key(s) {', '.join(missing)}")
    return record


def collect(config: dict, config_files: list[dict], repo: Path, command: str, results: dict[str, list[Path]],
            executor: str | None = None) -> dict:
    """The provenance record. ``config_files``: :func:`file_records` of the run's
    config files; ``results``: the studies' result files by label (see
    :func:`result_devices`); ``executor``: the Snakemake executor that built the report."""
    profile = run_profile(executor, config.get("device"))
    return {
        "config_name": config.get("name", "?"),
        "config_files": config_files,
        "config_sha256": config_sha256(config),
        "config": config,
        "git": git_state(repo),
        "packages": package_versions(),
        "devices": {"results": result_devices(results), "report_host": host()},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "profile": profile,
        "command": with_profile(command, profile),
    }
