rule prepare_data:
    output:
        "results/data/{source}.npz",
    params:
        mnist_dir=config["data"]["mnist_dir"] or "",
        test_fraction=config["data"]["test_fraction"],
        seed=config["seed"],
    log:
        f"{LOGS}/data/{{source}}.log",
    shell:
        "{PYTHON} {SCRIPTS}/prepare_data.py --source {wildcards.source} "
        "--mnist-dir '{params.mnist_dir}' --test-fraction {params.test_fraction} "
        "--seed {params.seed} --out {output} 2> {log}"
