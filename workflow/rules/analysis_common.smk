# Job lists, paths and input functions of embeddings.smk, analysis.smk and report.smk.
# Functions only (rule files stay declarative); include after common.smk, before those files.
# Which analyses run where:
#   every (model, dataset) of embedding_jobs(): embeddings, projections, temporal metrics, figures;
#   annotated datasets: classifiers. Annotations are drawn from ground truth (simulated datasets,
#   rule draw_annotations) or imported from the table a dataset names (annotations.table, any
#   dataset, rule import_annotations); both write results/{dataset}/annotations.parquet;
#   DTW pseudo-time (WorkflowConfig.aligned_pairs, per (model, dataset)): simulated datasets
#   (reference and accuracy from ground truth), pairs whose infection predictions (own, transferred
#   or imported) pick the reference (a movie predicted from elsewhere only and too short for the
#   reference window, or a simulated one without an infected well for event infection, is left
#   out with a WARNING; one whose state calls no cell infected is written not aligned at run
#   time, align_pseudotime exit 0), and the dataset whose track
#   the config names as explicit reference (analysis.pseudotime.reference; the other datasets pick
#   theirs as without one), or every dataset when the event is division. Without ground truth the
#   accuracy table holds aligned onsets only (true onsets and errors NaN); the aligned trajectories
#   (rule aligned_trajectories_figure, paper Fig 6, no ground truth read) are drawn for every
#   aligned pair, and feature_trajectories for every interpreted aligned pair;
#   simulated datasets only: the pseudo-time accuracy figure (rule pseudotime_figure), which plots
#   the true onsets;
#   every dataset with infection predictions: the infected fraction (beside the truth's on simulated);
#   datasets of one time point (still images, WorkflowConfig.still_datasets): no temporal metrics,
#   no DTW (nor what reads it); the results table and first page say "not computed: one time point".


#: Datasets whose annotations are drawn from ground truth, those that import a table, and those
#: whose division annotations are drawn from their tracks' lineage (annotations.division_from_lineage).
DRAWN = [d for d in SIMULATED if CONFIG.datasets[d].annotations.source == "ground_truth"]
IMPORTED = [d for d in DATASETS if CONFIG.datasets[d].annotations.source == "table"]
FROM_LINEAGE = [d for d in DATASETS if CONFIG.datasets[d].annotations.source == "lineage"]
ANNOTATED = sorted(DRAWN + IMPORTED + FROM_LINEAGE)

#: Model wildcard values: trained models and baselines (names never clash; WorkflowConfig checks).
EMBEDDED_MODELS = "|".join(MODELS + BASELINES)
#: Dataset wildcard values of the rules that need ground truth.
SIMULATED_DATASETS = wildcard_choice(SIMULATED)
#: Dataset wildcard values of draw_annotations, import_annotations and classify.
DRAWN_DATASETS = wildcard_choice(DRAWN)
IMPORTED_DATASETS = wildcard_choice(IMPORTED)
FROM_LINEAGE_DATASETS = wildcard_choice(FROM_LINEAGE)
ANNOTATED_DATASETS = wildcard_choice(ANNOTATED)


#: Memory of the jobs that hold a whole dataset's cells in memory, sized from their inputs when the
#: job starts (docs/benchmarks.md, "Gathers at plate scale"): the rule's own default, or a fixed part
#: (libraries) plus a part per cell, whichever is more. embed streams the matrices to disk and holds
#: the patch index and its copy in the AnnData (about 500 bytes a cell). temporal_metrics reads its
#: matrix a block of rows at a time (a 65,536-row chunk of the store, or 128 MiB, whichever is more;
#: "temporal_metrics streamed" there): it holds a few float64 copies of one block (the current and
#: the previous block, the decoded chunk, gathered rows; 3.1 measured, 4 allowed) and about 500 bytes
#: a cell (index columns, pairs, distances, per-track summaries; 600 allowed), never cells x features.
#: Its paper definition spills the rows of its random pairs to $TMPDIR (8 bytes a value, ~86 % of rows).
EMBED_BASE_MB, EMBED_BYTES_PER_CELL = 2000, 500
TEMPORAL_METRICS_BASE_MB, TEMPORAL_METRICS_BYTES_PER_CELL, TEMPORAL_METRICS_BLOCK_COPIES = 1000, 600, 4


def _made(path):
    """``path``; until it exists a FileNotFoundError naming it, which Snakemake reads as "resources
    to be determined" (it evaluates them again once the input is there)."""
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "not made yet", str(path))
    return path


def _store_shape(path):
    """(cells, features) of the embeddings store ``path``, from its metadata (see _made); the reader
    (anndata's module) imported only once the store is there, not by every plan before it is."""
    store = store_directory(_made(path))
    from dynaclr.embeddings.store import embeddings_shape

    return embeddings_shape(store)


def _block_bytes(n_features):
    """Bytes of one float64 block of rows of a store of ``n_features`` features, as the streamed jobs
    read it: a chunk of the store (STREAMED_CHUNK_ROWS rows) or BLOCK_BYTES, whichever is more."""
    from dynaclr.embeddings.blocks import BLOCK_BYTES
    from dynaclr.embeddings.store import STREAMED_CHUNK_ROWS

    return max(BLOCK_BYTES, STREAMED_CHUNK_ROWS * n_features * 8)


def _eigenproblem_bytes(n_features):
    """Bytes of the D x D eigenproblem of an exact PCA over blocks: four float64 D x D matrices
    (scatter, covariance, eigenvectors, components)."""
    return 4 * 8 * n_features**2


def _held_mem_mb(floor_mb, base_mb, held_bytes):
    """A job's mem_mb: base_mb (interpreter, libraries) plus the held_bytes it holds, in MB rounded
    up, never below floor_mb."""
    return max(floor_mb, base_mb + math.ceil(held_bytes / 1e6))


def embed_mem_mb(wildcards, input):
    """embed: at least 8,000 MB; more for a patch store of more than 12 million cells."""
    import pyarrow.parquet as pq

    cells = pq.read_metadata(_made(input.patches_parquet)).num_rows
    return _held_mem_mb(8000, EMBED_BASE_MB, cells * EMBED_BYTES_PER_CELL)


def temporal_metrics_mem_mb(wildcards, input):
    """temporal_metrics (one store at a time): at least 4,000 MB; more for a store of more than about
    4 million cells (320 features)."""
    shapes = [_store_shape(store) for store in input.embeddings]
    cells = max(n_cells for n_cells, _ in shapes)
    block_bytes = _block_bytes(max(n_features for _, n_features in shapes))
    held = cells * TEMPORAL_METRICS_BYTES_PER_CELL + TEMPORAL_METRICS_BLOCK_COPIES * block_bytes
    return _held_mem_mb(4000, TEMPORAL_METRICS_BASE_MB, held)


#: Memory of classify and transfer_classifiers, which stream their store (docs/benchmarks.md,
#: "classify and transfer_classifiers streamed"): they hold the cells' index and one table of
#: predictions per (task, classifier file) applied, 340-400 bytes a cell each measured (the two
#: tasks: 680-810 bytes a cell from 49,932 to 199,728 cells), 600 allowed; for classify the annotated
#: rows of one task, gathered as float64 with their cross-validation copies (15.5 bytes a value
#: measured, 24 allowed); and a few float64 copies of one block of rows (the decoded chunk, the
#: block, its scaled copy; 4 allowed, as temporal_metrics), never cells x features.
CLASSIFY_BASE_MB, CLASSIFY_BYTES_PER_PREDICTED_CELL, CLASSIFY_BYTES_PER_ANNOTATED_VALUE = 1000, 600, 24
CLASSIFY_BLOCK_COPIES = 4


def classify_mem_mb(wildcards, input):
    """classify and transfer_classifiers: at least 4,000 MB; more from about 1.9 million cells (320
    features, two tasks), 1.2 million when 10 % of them are annotated, fewer with more classifier files."""
    import pyarrow.parquet as pq

    n_cells, n_features = _store_shape(input.embeddings)
    tasks = len(CONFIG.analysis.classification.tasks)
    predicted = tasks * len(input.classifiers) if "classifiers" in input.keys() else tasks
    annotated = 0  # rows of the most annotated task (classify gathers them, one task at a time)
    if "annotations" in input.keys() and "classifiers" not in input.keys():
        task = pq.read_table(_made(input.annotations), columns=["task"]).column("task").to_pandas()
        annotated = int(task.value_counts().max()) if len(task) else 0
    held = (
        n_cells * predicted * CLASSIFY_BYTES_PER_PREDICTED_CELL
        + annotated * n_features * CLASSIFY_BYTES_PER_ANNOTATED_VALUE
        + CLASSIFY_BLOCK_COPIES * _block_bytes(n_features)
    )
    return _held_mem_mb(4000, CLASSIFY_BASE_MB, held)


#: Memory of project_embeddings with PCA alone (analysis.projections.methods: [pca]), which streams
#: its store (docs/benchmarks.md, "project_embeddings streamed"): the cells' obs and its copy in the
#: projections AnnData (about 300 bytes a cell measured at 320 features, 600 allowed), the coordinates
#: (float64, and float32 in the AnnData: 12 bytes a component, 16 allowed), the D x D scatter and a
#: few float64 copies of one block (4 allowed, as temporal_metrics), never cells x features. With UMAP
#: or PHATE every method runs on the whole matrix: the whole-store sizing below, unless
#: analysis.projections.neighbor_pca_components (k) is set: then they run on k streamed principal
#: components, and a cell also holds the scores (float64, the contiguous copy UMAP and PHATE get and
#: UMAP's float32 copy: 20 bytes a component, 24 allowed), each method's coordinates (16 a component,
#: as PCA's) and each method's neighbour structures (docs/benchmarks.md, "UMAP and PHATE on streamed
#: principal components"; measured at 50,000 and 100,000 cells x 320 features, k 50, 2 shared cores,
#: 2026-12-04: 5,042 bytes per added cell with UMAP, 4,294 with PHATE): UMAP's k-NN graph, NN-descent's
#: heaps, its trees and the fuzzy graph, about 3,600 bytes a cell at n_neighbors 15, 300 allowed per
#: neighbour; PHATE's kernel, landmark operator and their SVD, about 2,850 bytes a cell at its
#: defaults (knn 5, 2,000 landmarks), 3,600 allowed. Both are allowed even though they run one after
#: the other.
PROJECT_PCA_BASE_MB, PROJECT_PCA_BYTES_PER_CELL, PROJECT_PCA_BYTES_PER_COMPONENT = 1000, 600, 16
PROJECT_PCA_BLOCK_COPIES = 4
PROJECT_NEIGHBOR_BYTES_PER_SCORE = 24
PROJECT_UMAP_BYTES_PER_NEIGHBOR, PROJECT_PHATE_BYTES_PER_CELL = 300, 3600


def project_embeddings_mem_mb(projections):
    """The mem_mb function of project_embeddings for ``projections`` (the analysis.projections
    config): streamed PCA alone, at least 4,000 MB and more from about 3.7 million cells (320
    features, 2 components); with UMAP or PHATE, the whole store's sizing, or, with
    neighbor_pca_components set, per cell (streamed PCA, the scores and the neighbour graphs)."""
    methods = tuple(projections.methods)
    k = projections.neighbor_pca_components
    if methods != ("pca",) and k is None:
        return whole_store_mem_mb(4000, WHOLE_STORE_BYTES_PER_VALUE["project_embeddings"])
    coordinates = projections.n_components * len(methods)
    per_cell = PROJECT_PCA_BYTES_PER_CELL + PROJECT_PCA_BYTES_PER_COMPONENT * coordinates
    if methods != ("pca",):
        per_cell += PROJECT_NEIGHBOR_BYTES_PER_SCORE * max(k, projections.n_components)
        if "umap" in methods:
            per_cell += PROJECT_UMAP_BYTES_PER_NEIGHBOR * projections.umap.n_neighbors
        if "phate" in methods:
            per_cell += PROJECT_PHATE_BYTES_PER_CELL

    def mem_mb(wildcards, input):
        n_cells, n_features = _store_shape(input.embeddings)
        held = n_cells * per_cell + PROJECT_PCA_BLOCK_COPIES * _block_bytes(n_features) + 8 * n_features**2
        return _held_mem_mb(4000, PROJECT_PCA_BASE_MB, held)

    return mem_mb


#: Run time of project_embeddings's UMAP and PHATE (PCA alone: minutes at any plate; the rule's
#: 20). Measured on 2 shared cores, 2026-12-05 (docs/benchmarks.md, "UMAP and PHATE at plate
#: scale"): python benchmarks/projections.py --cells 50000 100000 200000 --features 320 \
#:     --methods umap phate --neighbor-pca-components 50
#: UMAP 47 / 46 / 100 s, PHATE 27 / 57 / 158 s at 50,000 / 100,000 / 200,000 cells (exponents 1.12
#: and 1.46 from 100,000 to 200,000). Allowed: twice the seconds at 200,000 cells, grown with
#: exponents 1.2 and 1.5 (on the whole matrix, k null, UMAP took about as long: 92 s at 100,000).
PROJECT_RUNTIME_CELLS = 200_000
PROJECT_SECONDS_AT_CELLS = {"umap": 200.0, "phate": 320.0}
PROJECT_SECONDS_EXPONENT = {"umap": 1.2, "phate": 1.5}


def project_embeddings_runtime(projections):
    """The runtime (minutes) of project_embeddings for ``projections``: 20 with PCA alone; with
    UMAP or PHATE, 20 plus the methods' allowed seconds at the store's cells (about 4 h for UMAP
    and 18 h for PHATE at 6.84 million cells)."""
    neighbours = [method for method in projections.methods if method != "pca"]
    if not neighbours:
        return 20

    def runtime(wildcards, input):
        n_cells, _ = _store_shape(input.embeddings)
        scale = n_cells / PROJECT_RUNTIME_CELLS
        seconds = sum(
            PROJECT_SECONDS_AT_CELLS[method] * scale ** PROJECT_SECONDS_EXPONENT[method] for method in neighbours
        )
        return 20 + math.ceil(seconds / 60)

    return runtime


#: Rule classification_intervals: the metrics table of each evaluation (its outputs' directory under
#: results/evaluation) is made from the scores and the predictions of the directory named here.
INTERVAL_PREDICTIONS = {"classification": "predictions", "transfer": "transfer_predictions"}


#: Memory of classification_intervals, which holds its predictions table whole (cells x tasks x
#: classifier files rows, as Arrow then pandas) and the scored rows' bootstrap (distillation_intervals
#: too: one row per held-out cell, fewer columns). Measured on 2 shared
#: cores, 2026-12-06:
#:   python benchmarks/gathers.py --workdir /tmp/intervals_mem --analysis-cells 50000 500000 \
#:       --analysis-features 32 --analysis-stages classify classification_intervals
#: peak 323 / 554 MiB at 99,864 / 1,000,008 rows (49,932 / 500,004 cells, two tasks; 251 MiB of
#: imports): 269 bytes per added row. Allowed: 600 bytes a row, 1,000 MB for the interpreter and libraries.
CLASSIFICATION_INTERVALS_BASE_MB, CLASSIFICATION_INTERVALS_BYTES_PER_ROW = 1000, 600


def classification_intervals_mem_mb(wildcards, input):
    """classification_intervals: at least 2,000 MB; more from about 1.7 million predictions rows."""
    import pyarrow.parquet as pq

    rows = pq.read_metadata(_made(input.predictions)).num_rows
    return _held_mem_mb(
        2000, CLASSIFICATION_INTERVALS_BASE_MB, rows * CLASSIFICATION_INTERVALS_BYTES_PER_ROW
    )


#: Run time of classification_intervals: the track bootstrap, n_bootstrap replicates of each scores
#: row (task, source) over its scored cells (the scores' n_test), linear in both. Measured on 2 shared
#: cores, 2026-12-06 (docs/benchmarks.md, "classification_intervals: run time"):
#:   python benchmarks/gathers.py --workdir /tmp/ci --analysis-cells 50000 200000 \
#:       --analysis-features 32 --analysis-stages classify classification_intervals \
#:       --analysis-n-bootstrap 200   (and 1000)
#: 4.8 / 12.0 s at 200 replicates and 26.9 / 47.3 s at 1,000 for 9,986 / 39,946 scored rows in two
#: scores rows: 0.94 us per scored row and 8 ms per scores row per replicate (reading the tables is
#: under a second). Allowed: 2 us and 20 ms, on the rule's 15 minutes: 39 min for 684,000 scored rows
#: (6.84 million cells, 10 % annotated) in two scores rows at n_bootstrap 1,000.
CLASSIFICATION_INTERVALS_SECONDS_PER_SCORED_ROW = 2e-6
CLASSIFICATION_INTERVALS_SECONDS_PER_SCORES_ROW = 0.02


def classification_intervals_runtime(classification):
    """The runtime (minutes) of classification_intervals for ``classification`` (the
    analysis.classification config): 15 plus the bootstrap's allowed time at the scores' rows and
    scored cells (n_test) and n_bootstrap replicates."""
    return _intervals_runtime(classification.n_bootstrap, "n_test")


def distillation_intervals_runtime(distillation):
    """The runtime (minutes) of distillation_intervals for ``distillation`` (the
    analysis.distillation config): as classification_intervals', one scores row per method over its
    held-out cells (n_heldout_cells), at the same allowed cost per row and replicate."""
    return _intervals_runtime(distillation.n_bootstrap, "n_heldout_cells")


def _intervals_runtime(n_bootstrap, scored_column):
    """15 minutes plus the bootstrap's allowed time: n_bootstrap replicates of each row of the
    scores (input.scores) over its ``scored_column`` cells."""

    def runtime(wildcards, input):
        import pyarrow.parquet as pq

        scored = pq.read_table(_made(input.scores), columns=[scored_column]).column(scored_column).to_pylist()
        per_replicate = CLASSIFICATION_INTERVALS_SECONDS_PER_SCORES_ROW * len(scored)
        per_replicate += CLASSIFICATION_INTERVALS_SECONDS_PER_SCORED_ROW * sum(scored)
        return 15 + math.ceil(n_bootstrap * per_replicate / 60)

    return runtime


#: Memory of embedding_figures, which streams its store (docs/benchmarks.md, "embedding_figures
#: streamed"): the distances read the cells' fov_name, track_id, t and the matrix a block of rows at a
#: time (the temporal metrics' pairs: two blocks, the decoded chunk, gathered rows; 4 allowed, as
#: temporal_metrics); per cell it holds the projections table (obs, coordinates, predicted labels,
#: matched ground truth), the figures' scatter points and the adjacent and random pairs with their
#: distances, never cells x features. Measured on 2 shared cores, 2026-12-04:
#:   python benchmarks/gathers.py --workdir /tmp/mem_fig --analysis-cells 50000 200000 500000 \
#:       --analysis-features 320 --analysis-stages classify project_embeddings embedding_figures
#: peak 717 / 1,122 / 1,425 MiB at 49,932 / 199,728 / 500,004 cells x 320 features (before, reading the
#: store whole: 847 / 2,314 MiB at the first two); 1,060 bytes per added cell from 199,728 to 500,004
#: cells (the same 65,536-row block), with two predicted tasks, ground truth and 2 PCA components.
#: Allowed: 1,500 bytes a cell, 1,000 MB for the interpreter and libraries, 4 blocks.
EMBEDDING_FIGURES_BASE_MB, EMBEDDING_FIGURES_BYTES_PER_CELL, EMBEDDING_FIGURES_BLOCK_COPIES = 1000, 1500, 4


def embedding_figures_mem_mb(wildcards, input):
    """embedding_figures: at least 2,000 MB (its former floor); more from about 220,000 cells (320
    features): 11,932 MB at 6.84 million cells x 320 features, 12,871 MB x 768."""
    n_cells, n_features = _store_shape(input.embeddings)
    block_bytes = _block_bytes(n_features)
    held = n_cells * EMBEDDING_FIGURES_BYTES_PER_CELL + EMBEDDING_FIGURES_BLOCK_COPIES * block_bytes
    return _held_mem_mb(2000, EMBEDDING_FIGURES_BASE_MB, held)


#: Memory of aligned_trajectories_figure, which streams its store (docs/benchmarks.md,
#: "pseudotime_figure streamed", measured when pseudotime_figure drew these trajectories beside the
#: accuracy figure): it reads the cells' fov_name, track_id, t (and patch row) and the features a
#: block of rows at a time for the exact PCA (streamed_principal_components: a centred
#: float64 copy of one block, the decoded chunk; 4 allowed, as temporal_metrics; the D x D scatter and
#: its eigenvectors); per cell it holds the cells, their 3 PCs and the DTW pseudo-time table with the
#: matched frames merged with the cells, never cells x features. Measured on 2 shared cores, 2026-12-04:
#:   python benchmarks/gathers.py --workdir /tmp/mem_ptfig --analysis-cells 50000 200000 500000 \
#:       --analysis-features 320 --analysis-stages align_pseudotime aligned_trajectories_figure
#: (the stage named pseudotime_figure then): peak 735 / 862 / 1,087 MiB at 49,932 / 199,728 /
#: 500,004 cells x 320 features (before, reading the store whole: 1,184 / 3,600 MiB at the first
#: two, 54 bytes a value); 786 bytes per added cell from 199,728 to 500,004 cells (the same
#: 65,536-row block), one reference from the ground truth, no gallery.
#: Allowed: 1,200 bytes a cell, 1,000 MB for the interpreter and libraries, 4 blocks.
ALIGNED_TRAJECTORIES_BASE_MB, ALIGNED_TRAJECTORIES_BYTES_PER_CELL, ALIGNED_TRAJECTORIES_BLOCK_COPIES = 1000, 1200, 4


def aligned_trajectories_mem_mb(wildcards, input):
    """aligned_trajectories_figure: at least 2,000 MB (its former floor); more from about 272,000
    cells (320 features): 9,883 MB at 6.84 million cells x 320 features, 10,838 MB x 768."""
    n_cells, n_features = _store_shape(input.embeddings)
    block_bytes = _block_bytes(n_features)
    held = n_cells * ALIGNED_TRAJECTORIES_BYTES_PER_CELL + ALIGNED_TRAJECTORIES_BLOCK_COPIES * block_bytes
    held += _eigenproblem_bytes(n_features)
    return _held_mem_mb(2000, ALIGNED_TRAJECTORIES_BASE_MB, held)


#: Memory of align_pseudotime, which streams its store (docs/benchmarks.md, "align_pseudotime
#: streamed"): the cells' obs, their ground truth or predictions, the lineage series and the per-frame
#: DTW tables (and the Parquet copy written): 1,526 bytes a cell measured from 199,728 to 500,004 cells
#: (320 features, one reference, no divisions; peaks 883 and 1,320 MiB, 1,665 MiB at 199,728 when it
#: read the store whole), 2,000 allowed; each further reference (n_references) keeps one more table
#: (about 26 bytes a cell measured, 200 allowed; a division repeats the mother's frames in each
#: daughter's series); with pca_components the (N, k) coordinates and one gathered batch of them (16
#: bytes a component) and the D x D eigenproblem; and a few float64 copies of one block (the decoded
#: chunk, the gathered query rows, the PCA's centred block; 4 allowed, as temporal_metrics), never
#: cells x features.
ALIGN_PSEUDOTIME_BASE_MB, ALIGN_PSEUDOTIME_BYTES_PER_CELL, ALIGN_PSEUDOTIME_BYTES_PER_REFERENCE = 1000, 2000, 200
ALIGN_PSEUDOTIME_BYTES_PER_COMPONENT, ALIGN_PSEUDOTIME_BLOCK_COPIES = 16, 4


def align_pseudotime_mem_mb(pseudotime):
    """The mem_mb function of align_pseudotime for ``pseudotime`` (the analysis.pseudotime config):
    at least 4,000 MB, more from about 1.2 million cells (320 features, one reference, no PCA)."""
    per_cell = ALIGN_PSEUDOTIME_BYTES_PER_CELL + ALIGN_PSEUDOTIME_BYTES_PER_REFERENCE * (pseudotime.n_references - 1)
    components = pseudotime.pca_components or 0
    per_cell += ALIGN_PSEUDOTIME_BYTES_PER_COMPONENT * components

    def mem_mb(wildcards, input):
        n_cells, n_features = _store_shape(input.embeddings)
        held = n_cells * per_cell + ALIGN_PSEUDOTIME_BLOCK_COPIES * _block_bytes(n_features)
        if components:
            held += _eigenproblem_bytes(n_features)
        return _held_mem_mb(4000, ALIGN_PSEUDOTIME_BASE_MB, held)

    return mem_mb


#: Memory of interpret_embeddings, which streams its store (docs/benchmarks.md, "interpret_embeddings
#: streamed"): the cells' fov_name, track_id, t (read_cells), the cell-features table and its copy
#: aligned to the cells, the patch index and the predictions, the (N, k) float64 scores of the exact
#: PCA over blocks (8 bytes a component; 16 allowed), the D x D eigenproblem and a few float64 copies
#: of one block (the decoded chunk, the centred block; 4 allowed, as temporal_metrics), never cells x
#: features. Measured on 2 shared cores, 2026-12-04 (benchmarks/gathers.py cannot make its patch store
#: and cell features; benchmarks/interpret_stream.py does):
#:   python benchmarks/interpret_stream.py prepare /tmp/interp_bench200000 --cells 200000 --features 320
#:   /usr/bin/time -f %M python benchmarks/interpret_stream.py run /tmp/interp_bench200000
#: peak 737 / 1,009 / 1,258 MiB at 49,932 / 199,728 / 500,004 cells x 320 features, 27 cell features,
#: 8 components (before, reading the store whole: 611 / 1,309 / 2,601 MiB); 869 bytes per added cell
#: from 199,728 to 500,004 cells (the same 65,536-row block), scores included. Allowed: 1,500 bytes a
#: cell + 16 per component, 1,000 MB for the interpreter and libraries, 4 blocks, the D x D eigenproblem.
INTERPRET_EMBEDDINGS_BASE_MB, INTERPRET_EMBEDDINGS_BYTES_PER_CELL = 1000, 1500
INTERPRET_EMBEDDINGS_BYTES_PER_COMPONENT, INTERPRET_EMBEDDINGS_BLOCK_COPIES = 16, 4


def interpret_embeddings_mem_mb(interpretation):
    """The mem_mb function of interpret_embeddings for ``interpretation`` (the
    analysis.interpretation config): at least 4,000 MB (its former floor)."""
    per_cell = INTERPRET_EMBEDDINGS_BYTES_PER_CELL
    per_cell += INTERPRET_EMBEDDINGS_BYTES_PER_COMPONENT * interpretation.n_components

    def mem_mb(wildcards, input):
        n_cells, n_features = _store_shape(input.embeddings)
        held = (
            n_cells * per_cell
            + INTERPRET_EMBEDDINGS_BLOCK_COPIES * _block_bytes(n_features)
            + _eigenproblem_bytes(n_features)
        )
        return _held_mem_mb(4000, INTERPRET_EMBEDDINGS_BASE_MB, held)

    return mem_mb


#: Memory of the jobs that read whole embeddings stores with read_embeddings (float32 X, 4 bytes a
#: value, and the float64 copies the analysis makes: standardised matrices, PCA, distances): a fixed
#: part plus bytes per stored value (cells x features, summed over the stores read), never below the
#: rule's former fixed request. Measured on 2 cores, 2026-12-04 (docs/benchmarks.md, "Memory of the
#: analysis rules against the store size"):
#:   python benchmarks/gathers.py --workdir /tmp/mem --analysis-cells 50000 200000 --analysis-features 320
#: bytes per value above the imports job (~250 MiB) at 199,728 x 320 (slope from 49,932 cells):
#: project_embeddings with pca (before it streamed; with UMAP or PHATE it still reads whole) 45.0 (44.2),
#: align_pseudotime (before it streamed) 23.2 (22.3), embedding_figures (before it streamed) 33.1 (31.7), export_embeddings (before it streamed) h5ad + parquet
#: 9.9 (8.9). Allowed: about 1.25 x that, and 1,000 MB for the interpreter, libraries and fixed costs
#: (the line through the two sizes meets zero values at 250-400 MiB). Every other rule that
#: used these allowances now streams (its own sizing above); UMAP and PHATE projections hold
#: neighbour graphs on top and are not covered beyond the PCA figure.
WHOLE_STORE_BASE_MB = 1000
WHOLE_STORE_BYTES_PER_VALUE = {
    "project_embeddings": 56,
}


def whole_store_mem_mb(floor_mb, bytes_per_value):
    """A mem_mb function for a rule whose job reads its input.embeddings (one store or several)
    whole: WHOLE_STORE_BASE_MB + bytes_per_value x cells x features, at least floor_mb."""

    def mem_mb(wildcards, input):
        from dynaclr.embeddings.store import whole_store_memory_mb

        stores = [input.embeddings] if isinstance(input.embeddings, str) else list(input.embeddings)
        return whole_store_memory_mb(
            [_store_shape(store) for store in stores],
            bytes_per_value=bytes_per_value,
            base_mb=WHOLE_STORE_BASE_MB,
            floor_mb=floor_mb,
        )

    return mem_mb


def embedding_pairs():
    """(model, dataset) of every embeddings store, in embedding_jobs() order."""
    return [(model, dataset) for model, dataset, _ in embedding_jobs()]


def classifier_sources():
    """Datasets whose annotations train classifiers (analysis.classification.train_on; all annotated)."""
    return CONFIG.classifier_training_datasets()


def classified_pairs():
    """(model, dataset) whose classifiers are fitted and cross-validated on the dataset's annotations."""
    return [(model, dataset) for model, dataset in embedding_pairs() if dataset in classifier_sources()]


@functools.cache  # per process: the plan asks it for every job that reads it
def transfer_sources(model, dataset):
    """Datasets whose classifiers (same model) predict ``dataset`` (analysis.classification.apply_to;
    WorkflowConfig.transfer_sources: a baseline's only those whose patches give the same input sampled
    alike; the transfers left out are logged at planning, skipped_baseline_transfers)."""
    return CONFIG.transfer_sources(model, dataset, PLATE_LAYOUTS)


def skipped_transfers(model, dataset):
    """One line per classifier transfer to ``dataset`` left out because the source dataset's patches
    give another input or are sampled otherwise (baselines only: a trained model embeds only datasets
    of its input, and one sampled otherwise is refused by the dry run instead;
    WorkflowConfig.transfer_differences)."""
    lines = []
    for source in CONFIG.candidate_transfer_sources(model, dataset):
        differences = CONFIG.transfer_differences(model, source, dataset, PLATE_LAYOUTS)
        if differences:
            lines.append(
                f"baseline {model}: the classifiers of dataset {source!r} do not predict dataset "
                f"{dataset!r}, whose patches differ: " + "; ".join(differences)
            )
    return lines


def skipped_baseline_transfers():
    """One line per baseline transfer left out because the two datasets' patches differ."""
    return [line for model, dataset in embedding_pairs() for line in skipped_transfers(model, dataset)]


def imported_classifiers(model, dataset):
    """The analysis.classification.imported entries (names) whose classifiers, fitted in an earlier
    run, predict ``dataset``'s embeddings by ``model`` (WorkflowConfig.imported_classifier_targets)."""
    if model not in MODELS:
        return []
    return CONFIG.imported_classifier_targets(model, dataset)


@functools.cache
def imported_label(name):
    """The train_dataset of an imported entry's classifiers: '<dataset> (<file>)'
    (dynaclr.classify.model.imported_source_label; the dry run checked the file)."""
    from dynaclr.classify.model import imported_source_label

    return imported_source_label(CONFIG.analysis.classification.imported[name].file)


def transfer_labels(model, dataset):
    """The rule's sources, in its classifier files' order: the datasets of transfer_sources, then the
    labels of the imported entries (imported_label)."""
    return transfer_sources(model, dataset) + [imported_label(n) for n in imported_classifiers(model, dataset)]


def transferred_pairs():
    """(model, dataset) that classifiers fitted on other datasets (or in an earlier run) predict."""
    return [(m, d) for m, d in embedding_pairs() if transfer_sources(m, d) or imported_classifiers(m, d)]


def transfer_inputs(wildcards):
    """The target's embeddings, the sources' classifiers (this run's, then the imported files), the
    target's annotations if it has some and, with imported classifiers of a model read from a file,
    its model.ckpt (what it was imported from: the checkpoint the files may have been fitted on)."""
    model, dataset = wildcards.model, wildcards.dataset
    imported = imported_classifiers(model, dataset)
    inputs = {
        "embeddings": embeddings_store(model, dataset),
        "classifiers": [
            f"{RESULTS}/evaluation/classifiers/{model}/{source}.json" for source in transfer_sources(model, dataset)
        ]
        + [CONFIG.analysis.classification.imported[name].file for name in imported],
    }
    if dataset in ANNOTATED:
        inputs["annotations"] = f"{RESULTS}/{dataset}/annotations.parquet"
    if imported and model in LOADED_MODELS:
        inputs["checkpoint"] = f"{RESULTS}/models/{model}/model.ckpt"
    return inputs


def prediction_file(model, dataset):
    """Per-cell predictions of (model, dataset): its own cross-validated classifiers' when the dataset
    trains some, else those of the classifiers transferred from other datasets."""
    if (model, dataset) in classified_pairs():
        return f"{RESULTS}/evaluation/predictions/{model}/{dataset}.parquet"
    return f"{RESULTS}/evaluation/transfer_predictions/{model}/{dataset}.parquet"


def infection_prediction_file(model, dataset):
    """The per-cell predictions that give (model, dataset)'s infection state: its own classifiers'
    where they include an infection classifier (WorkflowConfig.own_infection_predictions), else
    those of the classifiers transferred to it (a dataset annotated for division only gets its
    infection predictions from another dataset's classifiers)."""
    if CONFIG.own_infection_predictions(dataset):
        return prediction_file(model, dataset)
    return f"{RESULTS}/evaluation/transfer_predictions/{model}/{dataset}.parquet"


def predicted_pairs():
    """(model, dataset) with per-cell predictions (own or transferred classifiers)."""
    return classified_pairs() + [pair for pair in transferred_pairs() if pair not in classified_pairs()]


def infection_predicted(model, dataset):
    """True when (model, dataset) gets per-cell infection predictions: from its own infection
    classifier, else from one transferred from another dataset or imported whose file holds the task
    (WorkflowConfig.own_infection_predictions, infection_sources; infection_prediction_file's choice)."""
    if CONFIG.own_infection_predictions(dataset):
        return True
    return bool(CONFIG.infection_sources(model, dataset, PLATE_LAYOUTS))


def explicit_reference_dataset():
    """The dataset whose track is the explicit DTW reference, or None (WorkflowConfig's)."""
    return CONFIG.explicit_reference_dataset()


@functools.cache
def frame_counts():
    """Each dataset's frames (its raw plate's metadata, plate_sampling), as WorkflowConfig.still_datasets
    takes them."""
    return {dataset: plate_sampling(dataset).n_frames for dataset in DATASETS}


def still_datasets():
    """The embedded datasets of one time point (WorkflowConfig.still_datasets): no temporal metrics,
    no DTW; the report says "not computed: one time point"."""
    return CONFIG.still_datasets(frame_counts())


def time_lapse_pairs():
    """(model, dataset) of the embedded datasets of at least two frames (rule temporal_metrics)."""
    time_lapse = set(CONFIG.time_lapse_datasets(frame_counts()))
    return [(m, d) for m, d in embedding_pairs() if d in time_lapse]


@functools.cache  # per process: the plan asks it for every job that reads it
def aligned_pairs():
    """(model, dataset) aligned by DTW (WorkflowConfig.aligned_pairs: simulated, with infection
    predictions of its own or fitted elsewhere, the explicit reference's, every one when the event is
    division; never a dataset of one time point, nor one aligned only on predictions fitted elsewhere
    that is too short for the reference window: WorkflowConfig.dtw_not_computed says why)."""
    return CONFIG.aligned_pairs(frame_counts(), PLATE_LAYOUTS)


def dtw_left_out():
    """One line per (model, dataset) DTW would align but leaves out: infection predictions fitted
    elsewhere on a movie too short for the reference window, or the event infection on a simulated plate
    without an infected cell (WorkflowConfig.dtw_left_out; logged at planning)."""
    return [
        f"DTW pseudo-time not computed on dataset {dataset!r} (model {model}): {reason}"
        for (model, dataset), reason in CONFIG.dtw_left_out(frame_counts(), PLATE_LAYOUTS).items()
    ]


def embeddings_store(model, dataset):
    return store_file(f"{RESULTS}/embeddings/{model}/{dataset}.zarr")


def ground_truth_tracks(dataset):
    return f"{RESULTS}/{dataset}/ground_truth/tracks.parquet"


def figure_files(name, model, dataset):
    return [f"{RESULTS}/figures/{dataset}/{model}/{name}.{ext}" for ext in ("png", "svg")]


def analysis_config(stage):
    """The ``analysis.<stage>`` config subtree, defaults filled in, without the keys that only choose
    which jobs run (a rule's ``params``: StrictModel.job_params)."""
    return getattr(CONFIG.analysis, stage).job_params()


def interpretation_config(rule):
    """The keys of analysis.interpretation that ``rule`` reads (its ``params``: editing a gallery key
    reruns neither cell_features nor feature_trajectories)."""
    return CONFIG.analysis.interpretation.rule_params(rule)


def reference_checkpoint(dataset):
    """model.ckpt of the reference model of ``dataset`` (its spec is the baselines' spec)."""
    return f"{RESULTS}/models/{reference_model(dataset)}/model.ckpt"


def embed_inputs(wildcards):
    """Patch store of the job's spec; the checkpoint a trained or random-weights encoder needs."""
    store = patch_store(wildcards.dataset, embedding_spec(wildcards.model, wildcards.dataset))
    inputs = {"patches_zarr": store["zarr"], "patches_parquet": store["parquet"]}
    kind = model_kind(wildcards.model)
    if kind == "contrastive":
        inputs["checkpoint"] = f"{RESULTS}/models/{wildcards.model}/model.ckpt"
    elif kind == "random_weights":
        inputs["checkpoint"] = reference_checkpoint(wildcards.dataset)
    return inputs


def embed_config(wildcards):
    """The embed job's own subtree: analysis.engineered_features or analysis.embeddings."""
    return embed_stage_model(wildcards).job_params()


def embed_stage_model(wildcards):
    """The embed job's config model: analysis.engineered_features or analysis.embeddings."""
    if model_kind(wildcards.model) == "engineered_features":
        return CONFIG.analysis.engineered_features
    return CONFIG.analysis.embeddings


def ground_truth_input(wildcards):
    """{'tracks': ground truth} for a simulated dataset, {} otherwise."""
    if wildcards.dataset in SIMULATED:
        return {"tracks": ground_truth_tracks(wildcards.dataset)}
    return {}


def embedding_figures_input(wildcards):
    """What the projections are coloured by besides time and condition: ground truth (simulated
    datasets) and the per-cell predictions of (model, dataset) where it has some."""
    inputs = ground_truth_input(wildcards)
    if (wildcards.model, wildcards.dataset) in predicted_pairs():
        inputs["predictions"] = prediction_file(wildcards.model, wildcards.dataset)
    # the explorer's thumbnails: the patch store the model embedded
    store = patch_store(wildcards.dataset, embedding_spec(wildcards.model, wildcards.dataset))
    inputs |= {"patches_zarr": store["zarr"], "patches_parquet": store["parquet"]}
    return inputs


@functools.cache
def annotation_table_files(dataset):
    """The files of a dataset's annotations.table: the one table, or (a pattern with {row}, {col},
    {fov}, or a `tiff:` dataset's {position}: a file per FOV) the FOVs' files that exist, in the
    plate's FOV order. Listed once per process: the dry run and a job's own parse each stat the FOVs'
    files once."""
    annotations = CONFIG.datasets[dataset].annotations
    if not annotations.table_is_pattern:
        return [annotations.table]
    return [path for path in user_fov_files(annotations.table, dataset) if os.path.isfile(path)]


def annotation_table_positions(dataset):
    """The TIFF position of each FOV where annotations.table names the files by {position}, else None
    (pattern_positions)."""
    return pattern_positions(CONFIG.datasets[dataset].annotations.table, dataset)


def annotation_table_fovs(dataset):
    """Rule import_annotations' fov_names: the dataset's FOVs, or where annotations.table names the
    files by {position} each FOV's position ({fov_name: position}, in the FOVs' order)."""
    positions = annotation_table_positions(dataset)
    return fovs(dataset) if positions is None else positions


def import_annotations_checks(dataset):
    """Rule import_annotations' checks (keywords of dynaclr.classify.import_annotations_stage): what the
    table is only checked against, the plate's stated frame interval (`frame_interval_minutes`, where
    stated: plate_stated_sampling), which a t in minutes or seconds is told apart by (check_t_not_time),
    and the imported tracks' `tracks.frame_step` (`tracks_frame_step`, where set: tracks made on one
    frame in k, whose annotations are then all on multiples of k). A param of `input`, which Snakemake
    does not compare, so a plate stating its interval, or a frame_step set, reruns no import."""
    checks = {}
    interval = plate_stated_sampling(dataset).get("frame_interval_minutes")
    if interval is not None:
        checks["frame_interval_minutes"] = interval
    tracks = CONFIG.datasets[dataset].tracks
    if tracks is not None and tracks.frame_step is not None:
        checks["tracks_frame_step"] = tracks.frame_step
    return checks


def annotation_table_input(wildcards):
    """The user's annotation table (annotations.table: its file, or the files of a table per FOV,
    so editing or adding one reruns the import) and the tracks its track ids refer to."""
    return {
        "table": annotation_table_files(wildcards.dataset),
        "tracks": f"{RESULTS}/{wildcards.dataset}/tracks.parquet",
    }


def pseudotime_input(wildcards):
    """What gives the infection state: ground truth (simulated), else the infection classifier's
    predictions (infection_prediction_file: its own, else those transferred to it), except on the
    dataset whose track is the explicit reference (which needs none).
    With event division, a dataset of imported tracks without ground truth is scored against the
    divisions its lineage states (its tracks.parquet)."""
    if wildcards.dataset in SIMULATED:
        return ground_truth_input(wildcards)
    if CONFIG.analysis.pseudotime.event == "division" and wildcards.dataset in TRACKS_IMPORTED:
        return {"lineage": f"{RESULTS}/{wildcards.dataset}/tracks.parquet"}
    if CONFIG.analysis.pseudotime.event == "infection" and wildcards.dataset != explicit_reference_dataset():
        return {"predictions": infection_prediction_file(wildcards.model, wildcards.dataset)}
    return {}


def results_table_pairs():
    """Per embedded (model, dataset): how the dataset relates to the model's training, the
    dataset's frame interval (smoothness and dynamic range compare adjacent frames), the
    classifier transfers to it left out (skipped_transfers), why the analyses over time are not
    computed on it (a dataset of one time point) and why no classifier is fitted on it or transferred
    to it (classification_plan_reasons) (results table)."""
    from dynaclr.config.reasons import ONE_TIME_POINT

    still = set(still_datasets())
    rows = []
    for model, dataset in embedding_pairs():
        entry = CONFIG.contrastive_models.get(model)
        if entry is None:
            trained_on = ""
        elif entry.is_loaded:
            trained_on = f"file {entry.model_file}"
        else:
            trained_on = ",".join(entry.train_datasets)
        rows.append(
            {
                "model": model,
                "dataset": dataset,
                "distribution": distribution(model, dataset),
                "trained_on": trained_on,
                "time_interval_minutes": plate_sampling(dataset).time_interval_minutes,
                "transfers_skipped": "; ".join(skipped_transfers(model, dataset)),
                "temporal_not_computed": ONE_TIME_POINT if dataset in still else "",
                "dtw_not_computed": CONFIG.dtw_not_computed(
                    model, dataset, frame_counts(), PLATE_LAYOUTS
                ),
                **classification_plan_reasons(model, dataset),
            }
        )
    return rows


def classification_plan_reasons(model, dataset):
    """Why the plan fits no classifier on (model, dataset) and, per task, scores none fitted elsewhere
    on it (dynaclr.config.reasons.planned_f1_reasons: the results table's F1 reasons): each source
    (transfer_labels) with the tasks its classifiers hold (a dataset's annotation tasks among
    analysis.classification.tasks, an imported file's own), the dataset's annotation tasks; apply_to
    named as the reason only where another dataset's classifiers could predict it."""
    from dynaclr.config.reasons import planned_f1_reasons

    classification = CONFIG.analysis.classification
    tasks = set(classification.tasks)

    def annotation_tasks(name):
        entry = CONFIG.datasets[name]
        return set(entry.annotations.tasks) if entry.is_annotated else None

    sources = {source: annotation_tasks(source) & tasks for source in transfer_sources(model, dataset)}
    files = {}
    for name in imported_classifiers(model, dataset):
        sources[imported_label(name)] = set(CONFIG.imported_tasks(name)) & tasks
        files[imported_label(name)] = CONFIG.analysis.classification.imported[name].file
    others = [s for s in classifier_sources() if s != dataset and (model, s) in set(embedding_pairs())]
    return planned_f1_reasons(
        model,
        dataset,
        tasks=classification.tasks,
        annotation_tasks=annotation_tasks(dataset),
        trains=(model, dataset) in classified_pairs(),
        sources=sources,
        left_out_by_apply_to=bool(others)
        and classification.apply_to is not None
        and dataset not in classification.apply_to,
        skipped=bool(skipped_transfers(model, dataset)),
        imported_files=files,
    )


def analyses_not_run():
    """Per analysis the plan runs on no dataset, why (the first page's line; empty: it runs): the
    infection classifier (no pair gets infection predictions, own, transferred or imported) and the
    DTW pseudo-time (no dataset is aligned)."""
    infection = any(infection_predicted(model, dataset) for model, dataset in embedding_pairs())
    return {
        "infection classifier": "" if infection or not embedding_pairs() else CONFIG.infection_unclassified(),
        "pseudo-time": CONFIG.dtw_not_run(frame_counts(), PLATE_LAYOUTS) if embedding_pairs() else "",
    }


def results_table_levels():
    """The levels of the results table's intervals, by what they bound (its caption states them; the
    table's CSV records each value's: track_pairs_confidence, f1_*_confidence,
    dtw_onset_mae_frames_confidence)."""
    from dynaclr.config.analysis import ONSET_ERROR_CONFIDENCE

    return {
        "track_pairs": CONFIG.analysis.temporal_metrics.confidence,
        "f1": CONFIG.analysis.classification.confidence,
        "dtw": ONSET_ERROR_CONFIDENCE,
    }


def results_table_inputs(wildcards):
    inputs = {}
    if time_lapse_pairs():
        inputs["temporal_metrics"] = f"{RESULTS}/evaluation/temporal_metrics.csv"
    if classified_pairs() or transferred_pairs():
        inputs["classification"] = f"{RESULTS}/evaluation/classification.csv"
    if aligned_pairs():
        inputs["dtw_accuracy"] = f"{RESULTS}/evaluation/dtw_accuracy.csv"
    # their provenance: how far each model's training went (a model max_minutes stopped is marked)
    inputs["embeddings"] = [embeddings_store(model, dataset) for model, dataset in embedding_pairs()]
    return inputs


def analysis_outputs():
    """Final targets of embeddings.smk, analysis.smk and report.smk (for rule all)."""
    pairs = embedding_pairs()
    if not pairs:
        return []
    targets = []
    if time_lapse_pairs():
        targets += [f"{RESULTS}/evaluation/temporal_metrics.csv", f"{RESULTS}/evaluation/temporal_comparison.csv"]
    targets += [
        f"{RESULTS}/evaluation/results_table.csv",
        f"{RESULTS}/evaluation/results_table.html",
    ]
    targets += [f"{RESULTS}/figures/results_table.{ext}" for ext in ("png", "svg")]
    for model, dataset in pairs:
        targets += figure_files("projections", model, dataset) + figure_files("distances", model, dataset)
    if classified_pairs() or transferred_pairs():
        targets.append(f"{RESULTS}/evaluation/classification.csv")
    for model, dataset in predicted_pairs():
        if infection_predicted(model, dataset):
            targets += figure_files("infected_fraction", model, dataset)
    if aligned_pairs():
        targets += [f"{RESULTS}/evaluation/pseudotime.parquet", f"{RESULTS}/evaluation/dtw_accuracy.csv"]
    for model, dataset in aligned_pairs():
        targets += figure_files("aligned_trajectories", model, dataset)  # no ground truth read
        if dataset in SIMULATED:  # the accuracy plots the true onsets
            targets += figure_files("pseudotime", model, dataset)
    return targets + interpretation_outputs() + occlusion_outputs() + distillation_outputs()


# ------------------------------------------------------------------ interpretation (opt-in)
def interpretation_pairs():
    """(model, dataset) interpreted (analysis.interpretation.enabled): every embedded pair."""
    return embedding_pairs() if CONFIG.analysis.interpretation.enabled else []


def cell_features_file(dataset, spec):
    return f"{RESULTS}/{dataset}/cell_features/{spec}.parquet"


def interpretation_inputs(wildcards):
    """Embeddings, the cell features and patches of their spec, and predictions where they exist."""
    model, dataset = wildcards.model, wildcards.dataset
    spec = embedding_spec(model, dataset)
    store = patch_store(dataset, spec)
    inputs = {
        "embeddings": embeddings_store(model, dataset),
        "features": cell_features_file(dataset, spec),
        "patches_zarr": store["zarr"],
        "patches_parquet": store["parquet"],
    }
    if (model, dataset) in predicted_pairs():
        inputs["predictions"] = prediction_file(model, dataset)
    return inputs


def interpretation_outputs():
    """Targets of interpretation.smk: per (model, dataset) the correlation table and two figures."""
    targets = []
    for model, dataset in interpretation_pairs():
        targets.append(f"{RESULTS}/evaluation/interpretation/{model}/{dataset}.csv")
        targets += figure_files("pc_features", model, dataset) + figure_files("pc_gallery", model, dataset)
    for model, dataset in trajectory_feature_pairs():
        targets.append(f"{RESULTS}/evaluation/feature_trajectories/{model}/{dataset}_summary.csv")
        targets += figure_files("feature_trajectories", model, dataset)
    return targets


def trajectory_feature_pairs():
    """(model, dataset) whose features are followed along pseudo-time by feature_trajectories:
    interpreted and aligned pairs whose patch spec holds the channel of a listed feature."""
    names = CONFIG.analysis.interpretation.trajectory_features
    if not names:
        return []
    from dynaclr.interpretation.features import CHANNEL_FEATURES

    known = {name for config in CONFIG.datasets.values() for spec in config.patches for name in spec.channel_names()}
    unknown = [
        name
        for name in names
        if not any(name == f"{channel}_{feature}" for channel in known for feature in CHANNEL_FEATURES)
    ]
    if unknown:
        raise ValueError(
            f"analysis.interpretation.trajectory_features: {unknown} are not '{{source}}:{{channel}}_{{feature}}' "
            f"of a patch spec's channel {sorted(known)} and a feature {list(CHANNEL_FEATURES)}"
        )
    aligned = set(aligned_pairs())
    pairs = []
    for model, dataset in interpretation_pairs():
        if (model, dataset) not in aligned:
            continue
        spec = CONFIG.datasets[dataset].patch_spec(embedding_spec(model, dataset))
        channels = spec.channel_names()
        if any(name.startswith(f"{channel}_") for name in names for channel in channels):
            pairs.append((model, dataset))
    return pairs


def feature_trajectories_inputs(wildcards):
    """Pseudo-time, the cell features and index of the embedded spec, and ground truth when simulated."""
    model, dataset = wildcards.model, wildcards.dataset
    spec = embedding_spec(model, dataset)
    inputs = {
        "pseudotime": f"{RESULTS}/evaluation/pseudotime/{model}/{dataset}.parquet",
        "features": cell_features_file(dataset, spec),
        "patches_parquet": patch_store(dataset, spec)["parquet"],
    }
    if dataset in SIMULATED and CONFIG.analysis.interpretation.trajectory_truth_columns:
        inputs["tracks"] = ground_truth_tracks(dataset)
    return inputs


#: Model wildcard values of occlusion_attribution: models with a model.ckpt (trained or loaded).
ENCODER_MODELS = wildcard_choice(MODELS)


def occlusion_pairs():
    """(model, dataset) attributed (analysis.occlusion.enabled): a model with a checkpoint (those of
    analysis.occlusion.models), on a dataset whose own annotations fitted its classifiers."""
    if not CONFIG.analysis.occlusion.enabled:
        return []
    models = CONFIG.analysis.occlusion.models or MODELS
    return [(model, dataset) for model, dataset in classified_pairs() if model in models]


def occlusion_inputs(wildcards):
    """Checkpoint, embeddings and classifiers of (model, dataset), the patches embedded, ground truth
    on simulated datasets (the infection onset)."""
    model, dataset = wildcards.model, wildcards.dataset
    store = patch_store(dataset, embedding_spec(model, dataset))
    inputs = {
        "checkpoint": f"{RESULTS}/models/{model}/model.ckpt",
        "embeddings": embeddings_store(model, dataset),
        "classifiers": f"{RESULTS}/evaluation/classifiers/{model}/{dataset}.json",
        "patches_zarr": store["zarr"],
        "patches_parquet": store["parquet"],
    }
    if dataset in SIMULATED:
        inputs["ground_truth"] = ground_truth_tracks(dataset)
    return inputs


def occlusion_config(wildcards):
    """occlusion_attribution's ``params.config``: analysis.occlusion's job params, its
    ``max_match_distance_px`` None where the job does not read it (WorkflowConfig.occlusion_matches_truth;
    OcclusionConfig takes None as 'not read by this job')."""
    config = analysis_config("occlusion")
    if not CONFIG.occlusion_matches_truth(wildcards.dataset):
        config["max_match_distance_px"] = None
    return config


def occlusion_outputs():
    """Targets of occlusion_attribution: per (model, dataset) the maps, the summary and the figure."""
    targets = []
    for model, dataset in occlusion_pairs():
        targets.append(f"{RESULTS}/evaluation/occlusion/{model}/{dataset}.csv")
        targets += figure_files("occlusion", model, dataset)
    return targets


# ------------------------------------------------------------------ distillation (opt-in)
def distillation_pairs():
    """(teacher model, dataset) distilled (analysis.distillation.enabled): at most one."""
    distillation = CONFIG.analysis.distillation
    return [(distillation.teacher_model, distillation.dataset)] if distillation.enabled else []


def distillation_inputs(wildcards):
    """The teacher's embeddings and classify artifacts, the patch store it embedded, ground truth, and
    the phase-only contrastive model the student starts from (analysis.distillation.student_model)."""
    model, dataset = wildcards.model, wildcards.dataset
    store = patch_store(dataset, embedding_spec(model, dataset))
    return {
        "embeddings": embeddings_store(model, dataset),
        "predictions": f"{RESULTS}/evaluation/predictions/{model}/{dataset}.parquet",
        "classifiers": f"{RESULTS}/evaluation/classifiers/{model}/{dataset}.json",
        "patches_zarr": store["zarr"],
        "patches_parquet": store["parquet"],
        "ground_truth": ground_truth_tracks(dataset),
        **(
            {"student_checkpoint": f"{RESULTS}/models/{student}/model.ckpt"}
            if (student := CONFIG.analysis.distillation.student_model) is not None
            else {}
        ),
    }


def distillation_heldout_warnings():
    """One line per contrastive encoder the distillation reads that is trained on its held-out FOVs
    (analysis.distillation.heldout_fovs, else every second FOV of each well of the plate), or may be."""
    encoders = CONFIG.distillation_encoders()
    if not encoders:
        return []
    from dynaclr.distill.split import default_heldout_fovs

    distillation = CONFIG.analysis.distillation
    heldout = distillation.heldout_fovs or default_heldout_fovs(plate_layout(distillation.dataset).fov_names)
    lines = [encoder.heldout_warning(role, heldout) for role, encoder in encoders.items()]
    return [line for line in lines if line is not None]


def distillation_outputs():
    """Targets of distillation.smk: per distilled (model, dataset) the metrics (with CIs), predictions,
    figure."""
    targets = []
    for model, dataset in distillation_pairs():
        targets += [
            f"{RESULTS}/evaluation/distillation/{model}/{dataset}.parquet",
            f"{RESULTS}/evaluation/distillation_predictions/{model}/{dataset}.parquet",
        ]
        targets += figure_files("distillation", model, dataset)
    return targets


# ------------------------------------------------------------------ the report's first page
def dataset_description(name):
    """A few words on what a dataset is, for the report's first page (DatasetConfig.description)."""
    sampling = plate_sampling(name)
    return CONFIG.datasets[name].description(sampling.time_interval_minutes, sampling.n_frames)


def model_description(name):
    """How a model was made (or which baseline it is), for the report's first page."""
    entry = CONFIG.contrastive_models.get(name)
    if entry is None:
        return {"engineered_features": "baseline, hand-crafted per-cell features",
                "random_weights": "baseline, the encoder with untrained weights"}.get(name, "baseline")
    return entry.description()


def trained_samplings():
    """Per embedding model the workflow trains (not a baseline, not a model from a file), its
    training.sampling: the first page states the time-aware vs classical smoothness pairs."""
    names = sorted({m for m, _ in embedding_pairs()})
    entries = {name: CONFIG.contrastive_models.get(name) for name in names}
    return {name: entry.training.sampling for name, entry in entries.items() if entry is not None and not entry.is_loaded}


def unscored_image_stages():
    """Per dataset without ground truth, the image stages it runs (dynaclr.figures.findings
    .UNSCORED_STAGES): the first page says they ran and are not scored, rather than nothing."""
    stages = {}
    for name in DATASETS:
        spec = CONFIG.datasets[name]
        if spec.is_simulated:
            continue
        ran = [stage for stage, runs in (("phase", spec.phase is not None),
                                         ("virtual_stain", spec.virtual_stain is not None)) if runs]
        ran.append("imported_tracks" if name in TRACKS_IMPORTED else "tracking")
        stages[name] = ran
    return stages


@functools.cache
def findings_files():
    """Rule findings' inputs and, per per-dataset input, the dataset of each file."""
    files = {"qc": [], "import_warnings": [], "phase": [], "virtual_stain": [], "tracking": []}
    sources = {kind: [] for kind in files}

    def add(kind, dataset, path):
        files[kind].append(path)
        sources[kind].append(dataset)

    for dataset in DATASETS:
        spec = CONFIG.datasets[dataset]
        add("qc", dataset, f"{RESULTS}/{dataset}/qc.csv")
        if import_records(dataset):  # the warnings its imports recorded (a line each, or "none")
            add("import_warnings", dataset, f"{RESULTS}/{dataset}/import_warnings.csv")
        if spec.is_simulated and spec.phase is not None:
            add("phase", dataset, f"{RESULTS}/{dataset}/evaluation/phase.csv")
        if spec.is_simulated and spec.virtual_stain is not None:
            add("virtual_stain", dataset, f"{RESULTS}/{dataset}/evaluation/virtual_stain.csv")
        elif spec.virtual_stain is not None and fovs(dataset):
            # no evaluation without ground truth: its first FOV's prediction record says whether the
            # max_minutes budget stopped the model (`training`; every FOV is predicted by the one
            # model, and predicted again when it is retrained), never every FOV's record
            row, col, fov = fovs(dataset)[0].split("/")
            files.setdefault("virtual_stain_records", []).append(
                f"{RESULTS}/{dataset}/records/virtual_stain/{row}/{col}/{fov}.json"
            )
            sources.setdefault("virtual_stain_records", []).append(dataset)
        if spec.is_simulated:  # ultrack's tracks or imported ones
            add("tracking", dataset, f"{RESULTS}/{dataset}/evaluation/tracking.csv")
            # its record: the frames scored where CTC folders cover part of the movie
            files.setdefault("tracking_records", []).append(f"{RESULTS}/{dataset}/evaluation/tracking.json")
    if embedding_pairs():
        files["results_table"] = f"{RESULTS}/evaluation/results_table.csv"
    if time_lapse_pairs():
        files["temporal_comparison"] = f"{RESULTS}/evaluation/temporal_comparison.csv"
    if aligned_pairs():
        files["dtw_accuracy"] = f"{RESULTS}/evaluation/dtw_accuracy.csv"
    return files, sources


if workflow.is_main_process:
    from snakemake.logging import logger

    for _line in skipped_baseline_transfers():
        logger.warning(f"Skipped transfer: {_line}")
    for _line in dtw_left_out():
        logger.warning(f"WARNING {_line}")
    for _line in distillation_heldout_warnings():
        logger.warning(_line)
FINDINGS_RST = f"{RESULTS}/report/findings.rst"


# ------------------------------------------------------------------ exports (config `exports`)
def export_embeddings_outputs():
    """Rule export_embeddings' outputs: the .h5ad and Parquet copies the config asks for (VisCy's store
    has its own rule, export_viscy: turning it on or off reruns neither)."""
    outputs = {}
    if CONFIG.exports.h5ad:
        outputs["h5ad"] = f"{RESULTS}/exports/embeddings/{{model}}/{{dataset}}.h5ad"
    if CONFIG.exports.feature_parquet:
        outputs["parquet"] = f"{RESULTS}/exports/embeddings/{{model}}/{{dataset}}.parquet"
    return outputs


#: One FOV's CTC result folder (rule export_ctc), by its res_track.txt, which the stage writes last
#: and moves into place with the masks (dynaclr.io.atomic_output): as a store by its root file
#: (store_file), so Snakemake writes no .snakemake_timestamp into the folder the CTC tools list.
CTC_EXPORT = f"{RESULTS}/{{dataset}}/exports/ctc/{{row}}_{{col}}_{{fov}}/res_track.txt"
#: Beside it (outside the folder the CTC tools list): each CTC label's track (dynaclr.exports.ctc.LABEL_COLUMNS).
CTC_LABELS = f"{RESULTS}/{{dataset}}/exports/ctc_labels/{{row}}_{{col}}_{{fov}}.csv"

#: VisCy's features store (zarr format 2, xarray's layout), by its root file (store_file).
VISCY_EXPORT = store_file(f"{RESULTS}/exports/embeddings/{{model}}/{{dataset}}.viscy.zarr", ".zgroup")


def export_outputs():
    """The exports the config asks for (for rule all)."""
    targets = []
    if CONFIG.exports.ctc_tracks:
        for dataset in TRACKED:
            targets += per_fov(CTC_EXPORT, dataset) + per_fov(CTC_LABELS, dataset)
    paths = list(export_embeddings_outputs().values()) + ([VISCY_EXPORT] if CONFIG.exports.viscy_features else [])
    for model, dataset in embedding_pairs():
        targets += [path.format(model=model, dataset=dataset) for path in paths]
    return targets


# ------------------------------------------------------------------ export_embeddings' memory
#: Memory of export_embeddings, which copies its store a block of rows at a time (docs/benchmarks.md,
#: "export_embeddings streamed"): the cells' obs, its Arrow copy for the Parquet table and, for VisCy's
#: store, the tracks table, the node ids merged onto the cells and the projections' coordinates (the
#: three exports: 290 bytes a cell from 199,728 to 500,004 cells at 320 features, up to about 750 held
#: at once while VisCy's index is built; 1,000 allowed); and a few copies of one block (the decoded
#: chunks, the float32 block, its columns, the Parquet row group in the writer: about 510 MiB above
#: the imports with blocks of 128 MiB of float64; 4 blocks allowed, as temporal_metrics), never cells x
#: features. Measured peaks, all three exports (benchmarks/gathers.py --analysis-cells 50000 200000
#: --analysis-features 320 --analysis-stages export_embeddings, then 500000): 573, 822, 904 MiB
#: (before, reading the store whole: 501, 960, 1,762 MiB).
EXPORT_EMBEDDINGS_BASE_MB, EXPORT_EMBEDDINGS_BYTES_PER_CELL, EXPORT_EMBEDDINGS_BLOCK_COPIES = 1000, 1000, 4


def export_embeddings_mem_mb(wildcards, input):
    """export_embeddings and export_viscy: at least 4,000 MB; more from about 2.3 million cells (320 features)."""
    n_cells, n_features = _store_shape(input.embeddings)
    block_bytes = _block_bytes(n_features)
    held = n_cells * EXPORT_EMBEDDINGS_BYTES_PER_CELL + EXPORT_EMBEDDINGS_BLOCK_COPIES * block_bytes
    return _held_mem_mb(4000, EXPORT_EMBEDDINGS_BASE_MB, held)


# ------------------------------------------------------------------ distill's and occlusion_attribution's memory
#: Memory of distill and occlusion_attribution, which read their embeddings store by blocks
#: (docs/benchmarks.md, "distill and occlusion_attribution stream their embeddings"). An estimate
#: from the arrays the code holds, not a measurement (both need a patch store of every cell and a
#: model; benchmarks/gathers.py builds neither). distill holds the cells' obs, classify's predictions
#: (read whole: about 400 bytes a cell per task, as measured for classify; the infection rows copied),
#: the patch index and the ground truth matched onto the cells: about 1,600 bytes a cell at its peak,
#: 2,500 allowed; the annotated infection rows gathered as float64 to refit the teacher's head
#: (CLASSIFY_BYTES_PER_ANNOTATED_VALUE a value, as classify: every infection annotation counted, the
#: training FOVs' share is not known before the job); a few copies of one block (4, as classify); and
#: 2,000 MB for torch, the student, its optimizer and batches of patches. occlusion_attribution holds
#: the cells' keys, the patch index, the infection classifier's probability of every cell and the
#: time courses or the ground truth matched onto the patch index: about 1,000 bytes a cell, 1,500
#: allowed; a few copies of one block; 2,000 MB for torch, the encoder and Captum's batches. Neither
#: holds cells x features. Both keep their former floor of 4,000 MB.
DISTILL_BASE_MB, DISTILL_BYTES_PER_CELL, DISTILL_BLOCK_COPIES = 2000, 2500, 4
OCCLUSION_BASE_MB, OCCLUSION_BYTES_PER_CELL, OCCLUSION_BLOCK_COPIES = 2000, 1500, 4


def distill_mem_mb(wildcards, input):
    """distill: at least 4,000 MB; more from about 410,000 cells (320 features, 10 % of them annotated
    for infection): 25.0 GB at 6.84 million cells x 320 features."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    n_cells, n_features = _store_shape(input.embeddings)
    table = pq.read_table(_made(input.predictions), columns=["task", "annotated"])
    infection = table.filter(pc.equal(table["task"], "infection"))
    annotated = int(pc.sum(pc.cast(infection["annotated"], "int64")).as_py() or 0)
    held = (
        n_cells * DISTILL_BYTES_PER_CELL
        + annotated * n_features * CLASSIFY_BYTES_PER_ANNOTATED_VALUE
        + DISTILL_BLOCK_COPIES * _block_bytes(n_features)
    )
    return _held_mem_mb(4000, DISTILL_BASE_MB, held)


def occlusion_mem_mb(wildcards, input):
    """occlusion_attribution: at least 4,000 MB; more from about 890,000 cells (320 features): 12.9 GB
    at 6.84 million cells x 320 features."""
    n_cells, n_features = _store_shape(input.embeddings)
    held = n_cells * OCCLUSION_BYTES_PER_CELL + OCCLUSION_BLOCK_COPIES * _block_bytes(n_features)
    return _held_mem_mb(4000, OCCLUSION_BASE_MB, held)


# A classifier's metrics the plan knows will be empty (a class of an annotation table in one FOV
# only; common.smk logs those of simulated plates): in the log, whenever the main process starts (a run
# or a dry run). The table's own lines (repeats, label spellings) are left to import_annotations.
# Only where a dataset imports a table: the check's module imports anndata (CPU and memory every plan).
if workflow.is_main_process and IMPORTED:
    from dynaclr.classify.annotation_table import single_fov_class_warnings

    for message in single_fov_class_warnings(
        CONFIG,
        {d: annotation_table_files(d) for d in IMPORTED},
        {d: fovs(d) for d in IMPORTED},
        {d: annotation_table_positions(d) for d in IMPORTED},
    ):
        logger.warning(f"WARNING {message}")
