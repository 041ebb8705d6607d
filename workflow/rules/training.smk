# Contrastive training: one job per named model. The same torchrun launch runs 1 process on a
# laptop, N gloo processes on CPU nodes (contrastive_models.<name>.processes), or one process per
# GPU when the rule's `gpu` resource is set (profiles/slurm: set-resources: train_contrastive).
# torchrun, not Lightning's SLURM detection: the executor plugin runs the job inside a one-task
# srun step and removes the inherited SLURM_* variables.
# torchrun forwards the preemption signals (SIGUSR1, SIGURG) to the ranks, which save
# checkpoints/last.ckpt and exit 75 (dynaclr.training.preemption); the job's retry resumes from it.
# Threads: the job's threads are shared by its ranks (threads // ranks torch threads each, at least
# 1). The rule asks for one thread per CPU rank; give a node's cores with `--set-threads
# train_contrastive=32` (or the profile's set-threads): 32 threads and 4 GPUs make 8 threads per rank.

from dynaclr.training.preemption import TORCHRUN_SIGNAL_ARGS


rule train_contrastive:
    """Train a named contrastive model on its dataset's patch store (DDP via torchrun).

    Only model.ckpt and config.json are declared outputs: Snakemake deletes declared outputs
    before a job starts, so the resumable state (checkpoints/last.ckpt) and logs/ beside them
    survive a SLURM requeue.
    """
    input:
        zarr=lambda w: patch_store(CONFIG.contrastive_models[w.model].dataset, model_patch_spec(w.model))["zarr"],
        parquet=lambda w: patch_store(CONFIG.contrastive_models[w.model].dataset, model_patch_spec(w.model))[
            "parquet"
        ],
    output:
        checkpoint=f"{RESULTS}/models/{{model}}/model.ckpt",
        config=f"{RESULTS}/models/{{model}}/config.json",
    params:
        config=lambda w: CONFIG.contrastive_models[w.model].model_dump(mode="json"),
        training_json=lambda w: CONFIG.contrastive_models[w.model].training.model_dump_json(),
        processes=lambda w: CONFIG.contrastive_models[w.model].processes,
        output_dir=lambda w: model_dir(w.model),
        python=PYTHON,
        torchrun_signals=" ".join(TORCHRUN_SIGNAL_ARGS),
    log:
        f"{RESULTS}/logs/train_contrastive/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_contrastive/{{model}}.tsv"
    threads: lambda w: CONFIG.contrastive_models[w.model].processes  # raise with --set-threads (above)
    resources:
        mem_mb=16000,
        runtime=240,
        gpu=0,  # the SLURM profile sets GPUs per job; 0 = CPU with `processes` gloo ranks
    conda:
        "../../envs/dynaclr.yaml"
    shell:
        "mkdir -p {params.output_dir} && "
        "printf '%s' {params.training_json:q} > {params.output_dir}/requested_config.json && "
        "ranks={resources.gpu}; [ \"$ranks\" -gt 0 ] || ranks={params.processes}; "
        "threads_per_rank=$(( {threads} / ranks )); [ \"$threads_per_rank\" -ge 1 ] || threads_per_rank=1; "
        "{params.python} -m torch.distributed.run --standalone {params.torchrun_signals} "
        "--nproc-per-node=$ranks -m dynaclr.training --patches-zarr {input.zarr} --patches-parquet {input.parquet} "
        "--config {params.output_dir}/requested_config.json --model {output.checkpoint} "
        "--model-config {output.config} --model-name {wildcards.model} --work-dir {params.output_dir} "
        "--threads $threads_per_rank > {log} 2>&1"
