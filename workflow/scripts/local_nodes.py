"""Start N torchrun agents on this machine as N "nodes" rendezvousing over c10d.

    local_nodes.py --nodes 2 --nproc-per-node 1 --port 29600 SCRIPT [ARGS...]

For trying multi-node runs on one machine (a laptop, CI): each agent gets its
node rank; the command fails, with every agent's output, if any agent fails.
On a cluster the same torchrun line runs once per node under srun instead.
"""
import argparse
import subprocess
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--nproc-per-node", type=int, default=1)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("command", nargs=argparse.REMAINDER, help="script and its arguments")
    a = p.parse_args()
    agents = [subprocess.Popen([
        sys.executable, "-m", "torch.distributed.run", "--nnodes", str(a.nodes), "--node-rank", str(rank),
        "--nproc-per-node", str(a.nproc_per_node), "--rdzv-backend", "c10d",
        "--rdzv-endpoint", f"127.0.0.1:{a.port}", "--rdzv-id", f"local{a.port}", *a.command])
        for rank in range(a.nodes)]
    codes = [agent.wait() for agent in agents]
    failed = [rank for rank, code in enumerate(codes) if code]
    if failed:
        print(f"local_nodes: node ranks {failed} failed (exit codes {codes})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
