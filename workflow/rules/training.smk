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
    """Train a named contrastive model on its datasets' patch stores, pooled (DDP via torchrun).

    Only model.ckpt and config.json are declared outputs: Snakemake deletes declared outputs
    before a job starts, so the resumable state (checkpoints/last.ckpt) and logs/ beside them
    survive a SLURM requeue.
    """
    input:
        zarr=lambda w: training_stores(w.model)["zarr"],
        parquet=lambda w: training_stores(w.model)["parquet"],
    output:
        checkpoint=f"{RESULTS}/models/{{model}}/model.ckpt",
        config=f"{RESULTS}/models/{{model}}/config.json",
    params:
        # what decides the weights: editing embed_datasets, allow_other_scales or the training's
        # RUN_KEYS (num_workers, log_every_n_steps, record_sample_rows) retrains nothing
        config=lambda w: CONFIG.contrastive_models[w.model].training_params(),
        # the whole training config the job runs with, run keys included: a params function of
        # `threads`, which the params trigger does not compare (as run_settings); params.config
        # holds the rest of it
        training_json=lambda w, threads: CONFIG.contrastive_models[w.model].training.model_dump_json(),
        processes=lambda w: CONFIG.contrastive_models[w.model].processes,
        datasets=lambda w: CONFIG.contrastive_models[w.model].train_datasets,
        # each training dataset's sampling, recorded in model.ckpt (import_model compares a copy of the
        # model with the datasets it embeds): a function of threads, which the params trigger does not
        # compare, so editing what it records (a stated value, the plate's path) retrains nothing
        sampling=lambda w, threads: training_sampling(w.model),
        output_dir=lambda w: model_dir(w.model),
        python=PYTHON,
        torchrun_signals=" ".join(TORCHRUN_SIGNAL_ARGS),
    wildcard_constraints:
        model=wildcard_choice(TRAINED_MODELS),
    log:
        f"{RESULTS}/logs/train_contrastive/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_contrastive/{{model}}.tsv"
    threads: lambda w: CONFIG.contrastive_models[w.model].processes  # raise with --set-threads (above)
    priority: UPSTREAM_PRIORITY
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
        "--datasets {params.datasets} --training-sampling {params.sampling:q} "
        "--config {params.output_dir}/requested_config.json --model {output.checkpoint} "
        "--model-config {output.config} --model-name {wildcards.model} --work-dir {params.output_dir} "
        "--threads $threads_per_rank > {log} 2>&1"


rule import_model:
    """A model read from the file contrastive_models.<name>.checkpoint names (a dynaclr model.ckpt or a
    VisCy checkpoint) or its pretrained_weights (a timm backbone, train: false), checked against the
    configured architecture and written as training writes it."""
    input:
        checkpoint=lambda w: CONFIG.contrastive_models[w.model].model_file,
    output:
        checkpoint=f"{RESULTS}/models/{{model}}/model.ckpt",
        config=f"{RESULTS}/models/{{model}}/config.json",
    params:
        config=lambda w: CONFIG.contrastive_models[w.model].training.job_params(),  # hashed as training's
        checkpoint_format=lambda w: CONFIG.contrastive_models[w.model].import_format,
        # the spec's channels and normalize_per_time_point are recorded as the model's input where the
        # file states none (VisCy, timm): a plain param, so editing them re-imports (embed compares the
        # recorded input with each patch store it reads)
        input_shape=lambda w: imported_input(w.model),
        # checks (functions of threads, which the params trigger does not compare: editing them
        # re-imports nothing; embed repeats the check for each dataset it embeds)
        embedded_sampling=lambda w, threads: embedded_sampling(w.model),
        allow_other_scales=lambda w, threads: CONFIG.contrastive_models[w.model].allow_other_scales,
    wildcard_constraints:
        model=wildcard_choice(LOADED_MODELS),
    log:
        f"{RESULTS}/logs/import_model/{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/import_model/{{model}}.tsv"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/import_model.py"
