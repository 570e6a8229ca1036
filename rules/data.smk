rule prepare_data:
    output:
        "results/data/{source}.npz",
    params:
        cmd=script("prepare_data.py"),
        mnist_dir=config["data"]["mnist_dir"] or "",
        test_fraction=config["data"]["test_fraction"],
        seed=config["seed"],
    log:
        f"{LOGS}/data/{{source}}.log",
    conda:
        ENV
    shell:
        "{params.cmd} --source {wildcards.source} "
        "--mnist-dir '{params.mnist_dir}' --test-fraction {params.test_fraction} "
        "--seed {params.seed} --out {output} 2> {log}"
