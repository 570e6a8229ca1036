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

import pandas as pd
import yaml

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


def result_devices(metrics: list[Path], cells: list[Path], scaling: Path | None) -> dict[str, list[str]]:
    """The devices the result files record, per stage: ``cpu x1`` = kind x processes."""
    training = sorted({f"{m.get('device', '?')} x{m.get('world_size', 1)}"
                       for m in (json.loads(Path(p).read_text()) for p in metrics)})
    verification = set()
    for path in cells:
        rows = pd.read_csv(path, usecols=["device", "world_size"])
        verification |= {f"{d} x{w}" for d, w in zip(rows["device"], rows["world_size"])}
    out = {"training": training, "verification": sorted(verification)}
    if scaling:
        out["scaling"] = list(dict.fromkeys(pd.read_csv(scaling)["devices"]))
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


def usage_commands(record: dict) -> list[str]:
    """The commands a reader of the report would type, under the profile its run used:
    the whole campaign, the report (as recorded) and one sweep cell."""
    profile = ["--profile", record["profile"]] if record.get("profile") else []
    return [shlex.join(["snakemake", "all", *profile]), record["command"],
            " ".join(["snakemake", "results/robustness/sweep/<model>__seed<s>__<method>__eps<eps>.csv",
                      *profile])]  # a pattern to fill in, not quoted for a shell


def collect(config: dict, config_files: list[dict], repo: Path, command: str, metrics: list[Path],
            cells: list[Path], scaling: Path | None, executor: str | None = None) -> dict:
    """The provenance record. ``config_files``: :func:`file_records` of the run's
    config files; ``executor``: the Snakemake executor that built the report."""
    profile = run_profile(executor, config.get("device"))
    return {
        "config_name": config.get("name", "?"),
        "config_files": config_files,
        "config_sha256": config_sha256(config),
        "config": config,
        "git": git_state(repo),
        "packages": package_versions(),
        "devices": {"results": result_devices(metrics, cells, scaling), "report_host": host()},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "profile": profile,
        "command": with_profile(command, profile),
    }
