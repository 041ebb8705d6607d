# Embeddings of every (model, dataset) of embedding_jobs(), and their 2-D projections.
# Trained models, the random-weights baseline and the engineered features share one rule and one
# layout (dynaclr.embeddings.stage); projections are a separate rule, so a slow or failed
# projection never costs the embeddings.


rule embed:
    """Embed a dataset's patch store with one model: trained encoder, random weights or engineered features.

    An encoder streams into a resumable partial store beside the output (.{dataset}.zarr.partial),
    outside the declared output so a retried job continues where the last one stopped. Its
    model.ckpt must be checkpoint_model's, trained with the config whose hash is checkpoint_config_hash.
    """
    input:
        unpack(embed_inputs),
    output:
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
    params:
        config=embed_config,
        run=run_settings(embed_stage_model),  # batch sizes, resume: rerun nothing
        partial_store=lambda w: f"{RESULTS}/embeddings/{w.model}/.{w.dataset}.zarr.partial",
        checkpoint_model=lambda w: embedded_checkpoint(w.model, w.dataset)[0],
        checkpoint_config_hash=lambda w: embedded_checkpoint(w.model, w.dataset)[1],
        # a model read from a file: the dataset's sampling, compared with the one model.ckpt records
        # (a check, a function of threads: the params trigger does not compare it)
        sampling_check=lambda w, threads: imported_sampling_check(w.model, w.dataset),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/embed/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/embed/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=embed_mem_mb,
        runtime=60,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/embed.py"


rule project_embeddings:
    """PCA, UMAP and PHATE coordinates (analysis.projections.methods) of one embeddings store, in
    obsm['X_pca'], obsm['X_umap'], obsm['X_phate'] of an AnnData store, for the figures. PCA alone
    reads the store a block of rows at a time; UMAP or PHATE need (and read) the whole matrix, unless
    analysis.projections.neighbor_pca_components is set: they then run on streamed principal components."""
    input:
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
    output:
        projections=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.projections.zarr"),
    params:
        config=analysis_config("projections"),
    wildcard_constraints:
        model=EMBEDDED_MODELS,
    log:
        f"{RESULTS}/logs/project_embeddings/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/project_embeddings/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=project_embeddings_mem_mb(CONFIG.analysis.projections),
        runtime=project_embeddings_runtime(CONFIG.analysis.projections),
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/project_embeddings.py"
