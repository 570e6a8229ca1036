"""Run a script on N nodes x P processes: one torchrun agent per node, c10d rendezvous.

    multinode.py --nodes 2 --nproc-per-node 1 --port 29600 SCRIPT [ARGS...]

Inside a Slurm allocation (``SLURM_JOB_ID`` set) it runs

    srun --nodes N --ntasks N --ntasks-per-node=1 torchrun --nnodes N ...
         --rdzv-backend c10d --rdzv-endpoint <first host of the job>:<port>

with the port offset by the job id, so that jobs sharing a head node cannot
collide. Elsewhere (a laptop, CI) it starts the N agents on this machine, for
trying multi-node runs without a cluster. Either way the command fails, naming
the failed node ranks, if any agent fails.
"""
import argparse
import os
import re
import subprocess
import sys


def scontrol(*args: str) -> str:
    return subprocess.run(["scontrol", *args], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def slurm_head_address(job_id: str) -> str:
    """Address of the job's first node. Snakemake's jobstep strips most SLURM_*
    variables, so the node list is asked of scontrol; the node's NodeAddr (not
    its name) is what other nodes can reach."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST") or re.search(
        r"\bNodeList=(\S+)", scontrol("show", "job", "-o", job_id)).group(1)
    head = scontrol("show", "hostnames", nodelist).split()[0]
    addr = re.search(r"\bNodeAddr=(\S+)", scontrol("show", "node", "-o", head))
    return addr.group(1) if addr else head


def torchrun(nodes: int, nproc: int, endpoint: str, rdzv_id: str) -> list[str]:
    return [sys.executable, "-m", "tinyscale.dist", "--nnodes", str(nodes),
            "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d",
            "--rdzv-endpoint", endpoint, "--rdzv-id", rdzv_id]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--nproc-per-node", type=int, default=1)
    p.add_argument("--port", type=int, required=True, help="c10d port (offset by the Slurm job id)")
    p.add_argument("command", nargs=argparse.REMAINDER, help="script and its arguments")
    a = p.parse_args()
    job_id = os.environ.get("SLURM_JOB_ID")
    if job_id:
        endpoint = f"{slurm_head_address(job_id)}:{a.port + int(job_id) % 1000}"
        cmd = ["srun", "--nodes", str(a.nodes), "--ntasks", str(a.nodes), "--ntasks-per-node=1",
               *torchrun(a.nodes, a.nproc_per_node, endpoint, f"slurm{job_id}"), *a.command]
        print("multinode:", " ".join(cmd), file=sys.stderr, flush=True)
        code = subprocess.call(cmd)
        if code:
            print(f"multinode: srun exited with {code}", file=sys.stderr)
        return 1 if code else 0
    endpoint = f"127.0.0.1:{a.port}"
    print(f"multinode: {a.nodes} torchrun agents on this machine, rendezvous at {endpoint}",
          file=sys.stderr, flush=True)
    agents = [subprocess.Popen([*torchrun(a.nodes, a.nproc_per_node, endpoint, f"local{a.port}"),
                                "--node-rank", str(rank), *a.command]) for rank in range(a.nodes)]
    codes = [agent.wait() for agent in agents]
    failed = [rank for rank, code in enumerate(codes) if code]
    if failed:
        print(f"multinode: node ranks {failed} failed (exit codes {codes})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
