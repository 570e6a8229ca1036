"""Where a campaign's results came from: config files and their hashes, the git
commit, package versions, the devices the results name, the date and the command."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import pandas as pd

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


def shown_path(path) -> str:
    """A path relative to the working directory when it lies inside it."""
    path = Path(path).absolute()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def collect(config: dict, config_files: list[Path], repo: Path, command: str, metrics: list[Path],
            cells: list[Path], scaling: Path | None) -> dict:
    files = [{"path": shown_path(p), "sha256": sha256(Path(p).read_bytes())} for p in config_files]
    return {
        "config_name": config.get("name", "?"),
        "config_files": files,
        "config_sha256": config_sha256(config),
        "git": git_state(repo),
        "packages": package_versions(),
        "devices": {"results": result_devices(metrics, cells, scaling), "report_host": host()},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
    }
