"""Train one point of the SSVAE grid and write its metrics.json.

The point is (--n-labels, --corruption, --alpha, --seed); the dataset, model, training and
metrics settings are the ssvae block (--block, JSON). The data is read and checked before
anything is written, and lies on the device as one tensor. Under torchrun or srun the
training is DDP (every rank its share of each batch). The full training state is saved under
--state-dir every checkpoint_every_s seconds and at each evaluation; a rerun after a kill
resumes from the last saved step.
"""
import shutil

from tinyscale import cli, dist, io, runtime
from tinyscale.ssvae.data import load
from tinyscale.ssvae.run import add_point_arguments, point_of, train_point
from tinyscale.train import DeviceLoop


def main() -> None:
    p = cli.parser(__doc__)
    add_point_arguments(p)
    p.add_argument("--out", required=True, help="metrics.json")
    p.add_argument("--state-dir", required=True)
    a = p.parse_args()
    point = point_of(a)
    data = load(a.block["data"])
    runtime.set_threads(a.threads)
    world = dist.init(a.device)
    loop = DeviceLoop(world.device, world)
    record = train_point(data.to(world.device), a.block, point, loop, a.state_dir)
    if world.is_main:
        io.write_json(a.out, record)
        cli.log.info("n_labels %d, corruption %g, alpha %g, seed %d: test accuracy %.4f, test ELBO %.2f "
                     "(%.1f s, %d labelled images, %d corrupted, sha256 %s)", a.n_labels, a.corruption,
                     a.alpha, a.seed, record["final_test_accuracy"], record["final_test_elbo"],
                     record["seconds"], record["labelled"]["count"], record["labelled"]["corrupted"],
                     record["labelled"]["sha256"][:12])
        shutil.rmtree(a.state_dir, ignore_errors=True)      # the point is done: its saved states go
    world.close()


if __name__ == "__main__":
    cli.run(main)
