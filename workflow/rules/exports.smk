# Copies for other tools, each opt-in (config `exports`): a Cell Tracking Challenge result folder
# per tracked FOV, and every embeddings store as .h5ad, as a Parquet feature table and as VisCy's
# xarray features store (what VisCy's read_embedding_dataset and napari-iohub's features widget open).
# results/{dataset}/exports/ctc/{row}_{col}_{fov}/ (named by its res_track.txt) and
# results/{dataset}/exports/ctc_labels/{row}_{col}_{fov}.csv (each CTC label's track);
# results/exports/embeddings/{model}/{dataset}.{h5ad,parquet,viscy.zarr}.


rule export_ctc:
    """One FOV's labels and lineage as a CTC result folder (mask<t>.tif, res_track.txt), named by its
    res_track.txt (CTC_EXPORT): no directory() output, so Snakemake's marker stays out of the folder;
    and beside it each CTC label's track (CTC_LABELS: the ids are renumbered 1..n where they exceed uint16)."""
    wildcard_constraints:
        dataset=wildcard_choice(TRACKED),
    input:
        tracks_plate=store_file(f"{RESULTS}/{{dataset}}/tracks.zarr"),
        tracks_csv=f"{RESULTS}/{{dataset}}/tracks/{{row}}/{{col}}/{{fov}}/tracks_{{row}}_{{col}}_{{fov}}.csv",
    output:
        res_track=CTC_EXPORT,
        labels=CTC_LABELS,
    params:
        fov_name=FOV_NAME,
    log:
        f"{RESULTS}/logs/export_ctc/{{dataset}}/{{row}}_{{col}}_{{fov}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_ctc/{{dataset}}/{{row}}_{{col}}_{{fov}}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/export_ctc.py"


if export_embeddings_outputs():  # a rule only where the config asks for an export

    rule export_embeddings:
        """An embeddings store as .h5ad and/or a Parquet feature table (config exports.h5ad,
        feature_parquet)."""
        input:
            embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
        output:
            **export_embeddings_outputs(),
        log:
            f"{RESULTS}/logs/export_embeddings/{{model}}/{{dataset}}.log",
        benchmark:
            f"{RESULTS}/benchmarks/export_embeddings/{{model}}/{{dataset}}.tsv"
        threads: 1
        resources:
            mem_mb=export_embeddings_mem_mb,
            runtime=15,
        conda:
            "../../envs/dynaclr.yaml"
        script:
            "../scripts/export_embeddings.py"


rule export_viscy:
    """An embeddings store as VisCy's features store (config exports.viscy_features): with the
    dataset's tracks table (the tracker's node ids) and the store's projections."""
    input:
        embeddings=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.zarr"),
        tracks=f"{RESULTS}/{{dataset}}/tracks.parquet",
        projections=store_file(f"{RESULTS}/embeddings/{{model}}/{{dataset}}.projections.zarr"),
    output:
        viscy=VISCY_EXPORT,
    log:
        f"{RESULTS}/logs/export_viscy/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/export_viscy/{{model}}/{{dataset}}.tsv"
    threads: 1
    resources:
        mem_mb=export_embeddings_mem_mb,
        runtime=15,
    conda:
        "../../envs/dynaclr.yaml"
    script:
        "../scripts/export_embeddings.py"
