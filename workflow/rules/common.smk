# Config validation (JSON Schema, then the typed models), the config checked against the plates'
# metadata (before any job runs), dataset/FOV listing, input functions.
import collections.abc
import errno
import functools
import json
import math
import os
import sys

from pydantic import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.io import ancient
from snakemake.logging import logger
from snakemake.settings.types import DeploymentMethod
from snakemake.utils import validate

from dynaclr.config import WorkflowConfig
from dynaclr.config.base import fill_fov_pattern, names_position
from dynaclr.config.embeddings import model_kind
from dynaclr.config.patches import channel_indices
from dynaclr.config.plate_checks import (
    resampled_plate_pixel_size_um,
    simulated_layout,
    tracked_pixel_size_um,
    workflow_problems,
    workflow_warnings,
)
from dynaclr.config.transfer_checks import dataset_sampling, stack_slices, transfer_problems, transfer_warnings
from dynaclr.convert import (
    find_tiff_files,
    index_tiff_files,
    layout_from_headers,
    read_first_tiff_header,
    read_tiff_headers,
    read_tiff_sampling,
)
from dynaclr.io import ArtifactError, config_hash, store_directory
from dynaclr.io.plate import (
    PLANNED_ROOT_KEY,
    PLATE_PIXEL_SIZE_KEY,
    SAFE_NAME,
    SUPPLIED_KEY,
    listed_fov_names,
    planned_root_attributes,
    read_plate_layout,
    read_plate_sampling,
)
from dynaclr.io.tables import import_checked_fovs


# The typed models first (their errors name the key path), then the JSON Schema users read.
try:
    CONFIG = WorkflowConfig.model_validate(config)
except ValidationError as err:
    raise WorkflowError(f"Invalid config (keys are dotted paths from the top):\n{err}") from None
validate(config, schema="../../config/config.schema.json", set_default=False)
RESULTS = CONFIG.results.rstrip("/")
#: Priority of the long image stages and training (simulate, phase, virtual staining, tracking,
#: patches, train_contrastive): the scheduler starts them before any analysis job that is ready,
#: so the critical path never waits behind short jobs, and a 2-thread job (simulate, the phase
#: transfer function) is not starved by a stream of 1-thread ones. Analyses fill the idle cores.
UPSTREAM_PRIORITY = 10
# The interpreter of `shell:` rules that run Python (train_contrastive): under --sdm conda Snakemake
# activates the rule's env first, so `python` on PATH is the env's (as for `script:` rules);
# otherwise the interpreter running Snakemake (the project's .venv, which holds the whole stack).
IN_CONDA_ENVS = DeploymentMethod.CONDA in workflow.deployment_settings.deployment_method
PYTHON = "python" if IN_CONDA_ENVS else sys.executable
# envs/dynaclr.yaml installs dynaclr from this checkout: pip expands ${DYNACLR_SOURCE} in its
# requirements when Snakemake creates the env (a relative path would resolve against the copy of
# the env file Snakemake makes under .snakemake/conda/).
os.environ.update(DYNACLR_SOURCE=workflow.basedir)
DATASETS = sorted(CONFIG.datasets)
SIMULATED = [name for name in DATASETS if CONFIG.datasets[name].is_simulated]
#: Datasets given as TIFF files (rule convert_tiff writes their raw plate).
TIFF_DATASETS = [name for name in DATASETS if CONFIG.datasets[name].tiff is not None]
#: Datasets tracked here (ultrack: tracks_plate, track_fov, collect_tracks) and datasets whose
#: tracks the config names (tracks:, rule import_tracks); both write results/{dataset}/tracks.parquet.
TRACKED = [name for name in DATASETS if not CONFIG.datasets[name].imports_tracks]
TRACKS_IMPORTED = [name for name in DATASETS if CONFIG.datasets[name].imports_tracks]


# Plate positions: OME-Zarr names (e.g. A/1/0, B/12/Pos0); read_plate_layout refuses others.
wildcard_constraints:
    dataset="|".join(DATASETS),
    row=SAFE_NAME.pattern,
    col=SAFE_NAME.pattern,
    fov=SAFE_NAME.pattern,
    spec="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",


@functools.cache
def stage_config(dataset, stage):
    """The rule's own config subtree, defaults filled in, without the keys that only choose which jobs
    run (StrictModel.job_params: what `params:` compares on rerun); dumped
    once per process, not once per job (read-only: every job of the stage shares it). The phase
    config takes the pixel size and z step the dataset's `acquisition` supplies for a plate whose
    metadata states none, where it sets none itself."""
    value = getattr(CONFIG.datasets[dataset], stage)
    if stage == "phase" and value is not None:
        value = value.with_supplied(supplied_sampling(dataset))
    return value.job_params()


def run_settings(config_of):
    """A rule's ``params.run``: the RUN_KEYS (StrictModel.run_params: how the job runs, not what it
    computes) of the config ``config_of(wildcards)`` returns. It is a params function of `threads`,
    which Snakemake's params trigger does not compare (it counts it as derived from the job's
    resources): editing these keys reruns no job. Scripts merge it into ``params.config``
    (dynaclr.config.base.with_run_params)."""
    return lambda wildcards, threads: config_of(wildcards).run_params()


def supplied_sampling(dataset):
    """The values the dataset's `acquisition` supplies for a raw plate whose metadata states none
    (PlateSampling.supplied_values). Only a `plate:` dataset with `acquisition` values can have any (a
    simulated or TIFF dataset's plate states its sampling): the others' jobs read no plate for it."""
    spec = CONFIG.datasets[dataset]
    if spec.plate is None or all(value is None for value in spec.acquisition.sampling().values()):
        return {}
    return plate_sampling(dataset).supplied_values()


@functools.cache
def plate_sampling(dataset):
    """A dataset's raw plate's sampling (dynaclr.io.plate.PlateSampling: time interval, pixel size, z
    step, with what `acquisition` supplies, and time points), for per-job params and the analyses'
    inputs (whether a dataset is a movie, frame_counts): a `plate:` dataset's read from one
    position's metadata (read_plate_sampling), as every job parses this file again and plate_layout
    reads every position's (about 2 s at 10,000 FOVs); a `tiff:` dataset's from one file's header
    (tiff_sampling); a simulated dataset's from its simulate config (plate_layout). The dry run's
    plate_layout checks that the positions (files) agree, so one gives the plate's values. At planning,
    where plate_layout has read (and checked) the whole plate anyway, its layout (a PlateSampling)."""
    spec = CONFIG.datasets[dataset]
    if workflow.is_main_process or spec.is_simulated:
        return plate_layout(dataset)
    if spec.tiff is not None:
        return tiff_sampling(dataset)
    try:
        return read_plate_sampling(spec.plate, spec.acquisition.sampling())
    except ArtifactError as err:
        raise WorkflowError(f"datasets.{dataset}.plate: {err}") from None


@functools.cache
def tiff_sampling(dataset):
    """A `tiff:` dataset's sampling and time points (dynaclr.io.plate.PlateSampling): in a job, from its
    first FOV's file names and first file's header (read_tiff_sampling), not from every file's header
    and the sorted list of every file (seconds at 10^5 files, in every job); at planning plate_sampling
    takes plate_layout's instead (every header read once). The values
    are plate_layout's: the dry run refuses files that disagree with the first."""
    try:
        return read_tiff_sampling(CONFIG.datasets[dataset].tiff)
    except ValueError as err:
        raise WorkflowError(f"datasets.{dataset}: {err}") from None


def with_supplied(params_config, dataset):
    """A rule's params.config with the sampling the dataset's `acquisition` supplies for a raw plate
    whose metadata states none (dynaclr.io.plate.SUPPLIED_KEY), for the stages that read the raw
    plate's sampling; unchanged when it supplies none, so those datasets' params stay as they were."""
    supplied = supplied_sampling(dataset)
    return {**params_config, SUPPLIED_KEY: supplied} if supplied else params_config


@functools.cache
def well_conditions(dataset):
    """Condition per well (`row/column`) of a dataset, built once per process."""
    return CONFIG.datasets[dataset].well_conditions()


def run_conditions():
    """Every condition of the datasets that get figures coloured by condition (those some model or
    baseline embeds: embedding_figures, infected_fraction_figure), sorted: what fixes each
    condition's colour in the figures (dynaclr.figures.plots.label_colors), so one condition has one
    colour across the report whichever conditions a figure holds. A dataset no model embeds has no
    such figure: its conditions take no colour, and adding or editing it reruns none of them."""
    figured = {dataset for _, dataset, _ in embedding_jobs()}
    return sorted({c for name in CONFIG.datasets if name in figured for c in well_conditions(name).values()})


def store_file(path, root_file="zarr.json"):
    """How rules name a zarr store that one job writes whole (output) or reads (input): by its
    root metadata file (``root_file``: ``zarr.json`` for zarr format 3, ``.zgroup`` for format 2),
    not as a directory() output, so Snakemake keeps its ``.snakemake_timestamp`` out of the store.
    The writers move the whole store into place at once (dynaclr.io.atomic_output), so the root
    file exists only for a complete store, and is new at each rewrite (the rerun trigger of what
    reads it); Snakemake deletes only it before the job, and the writer replaces what is left.
    Stages get the store itself (dynaclr.io.StageFiles)."""
    return f"{path}/{root_file}"


@functools.cache
def written_plates():
    """The plates this workflow writes (each a path under results/, as rules name its folder): every
    simulated or TIFF dataset's raw plate, a simulated dataset's ground truth, and each dataset's
    phase, virtual-staining and tracking plates where its config makes them."""
    plates = []
    for name in DATASETS:
        spec, folder = CONFIG.datasets[name], f"{RESULTS}/{name}"
        plates += [f"{folder}/raw.zarr"] if name in SIMULATED or name in TIFF_DATASETS else []
        if spec.is_simulated:
            plates += [f"{folder}/ground_truth/labels.zarr", f"{folder}/ground_truth/phase.zarr"]
        plates += [f"{folder}/phase.zarr"] if spec.phase is not None else []
        plates += [f"{folder}/virtual_stain.zarr"] if spec.virtual_stain is not None else []
        plates += [f"{folder}/tracks.zarr"] if name in TRACKED else []
    return plates


@functools.cache
def raw_plate(dataset):
    """A dataset's raw plate (resolved once per dataset and process: per-FOV jobs ask for it): the path the config names (a directory), else the store written under
    results/ (simulated, or converted from TIFF files), by its root file (store_file). A named plate
    that this workflow writes (another dataset's raw plate under results/, say: written_plates) is
    named by its root file too, as the rule writing it names it, so that job stays upstream of the
    jobs reading it (a folder input matches no output: the edge would be lost)."""
    spec = CONFIG.datasets[dataset]
    if spec.plate is None:
        return store_file(f"{RESULTS}/{dataset}/raw.zarr")
    named = os.path.abspath(spec.plate)
    written = [plate for plate in written_plates() if os.path.abspath(plate) == named]
    return store_file(written[0]) if written else spec.plate


def own_plate(dataset):
    """Whether the dataset reads a plate of your own (`plate:`, a folder no rule of this workflow
    writes): its per-FOV jobs then depend on their FOV's metadata file (fov_metadata), not on the
    folder."""
    spec = CONFIG.datasets[dataset]
    return spec.plate is not None and raw_plate(dataset) == spec.plate


@functools.cache
def plate_metadata_file(dataset):
    """The metadata file of each group of a plate of your own: ``zarr.json`` (Zarr v3, OME-Zarr 0.5)
    or ``.zattrs`` (Zarr v2, 0.4: the group's attributes, OME metadata included), by which of
    ``zarr.json`` and ``.zgroup`` its root holds (one look per dataset and process)."""
    return "zarr.json" if os.path.exists(os.path.join(CONFIG.datasets[dataset].plate, "zarr.json")) else ".zattrs"


def raw_plate_input(dataset):
    """The raw plate as the jobs reading it name it: a plate of your own as ``ancient()`` (its folder's
    time, which adding a position or touching its root changes, reruns nothing: a per-FOV job depends
    on its own FOV's metadata, fov_metadata; a job making an output plate on every position's,
    plate_fov_metadata), any other (simulate's, convert_tiff's) by its root file, which one job writes
    whole (rewriting it reruns every FOV)."""
    return ancient(raw_plate(dataset)) if own_plate(dataset) else raw_plate(dataset)


def fov_metadata(dataset, fov):
    """The files whose change reruns FOV ``fov``'s jobs that read a plate of your own: its position's
    metadata file (``<plate>/<row>/<col>/<fov>/zarr.json``, or ``.zattrs`` in Zarr v2), formed from
    the FOV's name without reading anything; none for another plate (raw_plate_input). A position
    written again (iohub, a converter) rewrites it; pixels written into an existing array in place
    change no metadata file, so they rerun nothing (README: what reruns when the plate changes)."""
    if not own_plate(dataset):
        return []
    return [f"{CONFIG.datasets[dataset].plate}/{fov}/{plate_metadata_file(dataset)}"]


def plate_fov_metadata(dataset):
    """Every position's metadata file of a plate of your own (fov_metadata of each FOV), each as
    ``ancient()``: the input of the jobs that make an output plate with its positions (tracks_plate,
    phase_plate, virtual_stain_plate). A position added or removed changes the set of their inputs,
    which reruns them (Snakemake's `input` rerun trigger); one written again reruns that FOV's jobs
    only, not theirs. Their per-FOV jobs take the output plate as a plain input, so a position added
    still reruns every FOV: ``ancient()`` there would hide a FOV's own reasons to rerun whenever the
    plate job reruns too (Snakemake 9.27 skips the jobs below a job that runs: docs/benchmarks.md,
    "What reruns when one FOV changes")."""
    if not own_plate(dataset):
        return []
    return [ancient(path) for name in own_plate_fovs(dataset) for path in fov_metadata(dataset, name)]


@functools.cache
def own_plate_fovs(dataset):
    """The FOV names of a plate of your own: at planning plate_layout's (every position read and
    checked once anyway); in a job, as the plate's and wells' metadata list them, no position's read
    (every SLURM job parses this file again, and a per-FOV job's DAG holds the plate-making jobs above
    it, whose inputs are plate_fov_metadata: plate_layout would read every position's metadata in
    every job, about 2 s at 10,000 FOVs). The same names in the same order (listed_fov_names
    sorts them as plate_layout does), so the same inputs."""
    if workflow.is_main_process:
        return fovs(dataset)
    try:
        return listed_fov_names(CONFIG.datasets[dataset].plate)
    except ArtifactError as err:
        raise WorkflowError(f"datasets.{dataset}.plate: {err}") from None


@functools.cache
def tiff_files(dataset):
    """The TIFF files of a `tiff:` dataset (rule convert_tiff's input), found once per process."""
    try:
        return [str(path) for path in find_tiff_files(CONFIG.datasets[dataset].tiff)]
    except ValueError as err:
        raise WorkflowError(f"datasets.{dataset}: {err}") from None


@functools.cache
def tiff_index(dataset):
    """Which file of a `tiff:` dataset holds which FOV, time point, channel and slice
    (dynaclr.convert.TiffFiles), from the file names alone (no header read), once per process."""
    try:
        return index_tiff_files(CONFIG.datasets[dataset].tiff, tiff_files(dataset))
    except ValueError as err:
        raise WorkflowError(f"datasets.{dataset}: {err}") from None


class _PlateLayouts(collections.abc.Mapping):
    """Every dataset's plate_layout by name, each read when first looked up (WorkflowConfig's
    transfer and DTW decisions read those of a baseline's transfers only)."""

    def __getitem__(self, dataset):
        return plate_layout(dataset)

    def __iter__(self):
        return iter(DATASETS)

    def __len__(self):
        return len(DATASETS)


PLATE_LAYOUTS = _PlateLayouts()


@functools.cache
def plate_layout(dataset):
    """A dataset's raw plate as its metadata describes it (FOVs, channels, shape, time interval),
    read once per Snakemake process; a simulated dataset's from its simulate config, a `tiff:`
    dataset's from its file names (tiff_index) and headers: at planning every file's, which the dry
    run checks agree (tiff_layout's checks), in a job the first file's only (read_first_tiff_header:
    a SLURM job parses this file again, and the files were checked by the run that planned it)."""
    spec = CONFIG.datasets[dataset]
    if spec.is_simulated:
        return simulated_layout(spec.simulate, store_directory(raw_plate(dataset)))
    if spec.tiff is not None:
        read_headers = read_tiff_headers if workflow.is_main_process else read_first_tiff_header
        files = tiff_index(dataset)
        try:
            headers = read_headers(spec.tiff, files)
            return layout_from_headers(spec.tiff, files, headers, store_directory(raw_plate(dataset)))
        except ValueError as err:
            raise WorkflowError(f"datasets.{dataset}: {err}") from None
    try:  # with the values `acquisition` supplies where the metadata states none
        layout = read_plate_layout(spec.plate, spec.acquisition.sampling())
    except ArtifactError as err:
        raise WorkflowError(f"datasets.{dataset}.plate: {err}") from None
    # Snakemake shows no Python warning issued while it parses the workflow: a plate read with an
    # assumption (no scale, axes without units) would go unseen. Its log shows them.
    for message in layout.warnings:
        logger.warning(f"WARNING datasets.{dataset}.plate: {message}")
    return layout


def fovs(dataset):
    """FOV names (row/column/fov) of a dataset, from config or from the plate's metadata; a `tiff:`
    dataset's from its file names (tiff_index): a job listing a dataset's FOVs reads no header."""
    if CONFIG.datasets[dataset].tiff is not None:
        return list(tiff_index(dataset).fov_names)
    return list(plate_layout(dataset).fov_names)


#: Scratch disk of a per-FOV job (MB): what Snakemake's default (twice the inputs' size, at least
#: 1,000) gives for a FOV's small inputs. Declared so that planning does not evaluate the default for
#: every job, which costs an exception per job whose inputs do not exist yet.
PER_FOV_DISK_MB = 1000
#: A per-FOV job's FOV name as a `params:` string: Snakemake fills in the wildcards without calling
#: a function per job (planning 10,000 FOVs runs every per-job callable 10,000 times).
FOV_NAME = "{row}/{col}/{fov}"


def fov_name(wildcards):
    return f"{wildcards.row}/{wildcards.col}/{wildcards.fov}"


def per_fov(pattern, dataset):
    """``pattern`` (with {row}, {col}, {fov}) expanded over a dataset's FOVs."""
    paths = []
    for name in fovs(dataset):
        row, col, fov = name.split("/")
        paths.append(pattern.format(dataset=dataset, row=row, col=col, fov=fov))
    return paths


@functools.cache
def fov_positions(dataset):
    """The TIFF position of each FOV of a `tiff:` dataset ({fov_name: position}: tiff.positions read
    backwards, or the default FOV naming A/1/<position>), once per process; None for the others."""
    try:
        return CONFIG.datasets[dataset].fov_positions(fovs(dataset))
    except ValueError as err:
        raise WorkflowError(f"datasets.{dataset}: {err}") from None


def pattern_positions(pattern, dataset):
    """fov_positions where the user's per-FOV ``pattern`` names each FOV's file by its TIFF position
    ({position}), else None (the params of the other patterns' jobs stay as they were)."""
    return fov_positions(dataset) if names_position(pattern) else None


def user_fov_files(pattern, dataset):
    """The user's per-FOV ``pattern`` (tracks.path, annotations.table: {row}, {col}, {fov}, or a
    `tiff:` dataset's {position}) expanded over the dataset's FOVs, in their order: each FOV's own
    file (dynaclr.config.base.fill_fov_pattern)."""
    positions = pattern_positions(pattern, dataset)
    return [fill_fov_pattern(pattern, name, positions) for name in fovs(dataset)]


def phase_plate(dataset):
    """The plate holding Phase3D: reconstructed, or the raw plate when phase is switched off (a plate
    of your own as ``ancient()``: raw_plate_input)."""
    if CONFIG.datasets[dataset].phase is None:
        return raw_plate_input(dataset)
    return store_file(f"{RESULTS}/{dataset}/phase.zarr")


def training_fov_metadata(dataset):
    """Rule train_virtual_stain's fov_metadata: the metadata files of the FOVs it trains on
    (virtual_stain.train.train_fovs) in a plate of your own, whose phase (phase off) and nuclear
    target it reads; none for another plate (raw_plate_input)."""
    train = CONFIG.datasets[dataset].virtual_stain.train
    return [path for fov in train.train_fovs for path in fov_metadata(dataset, fov)] if train else []


def phase_fov_metadata(dataset, fov):
    """fov_metadata of FOV ``fov`` (None: every FOV's) where the phase plate is the raw plate (phase
    off); none for a reconstructed one (the FOV's phase record)."""
    if CONFIG.datasets[dataset].phase is not None:
        return []
    return plate_fov_metadata(dataset) if fov is None else fov_metadata(dataset, fov)


def with_raw_phase_supplied(params_config, dataset):
    """with_supplied where the phase plate is the raw plate (phase off): the sampling `acquisition`
    supplies for it where its metadata states none. A reconstructed phase plate states its own (written
    with them), so its jobs' params stay as they were."""
    if CONFIG.datasets[dataset].phase is None:
        return with_supplied(params_config, dataset)
    return params_config


@functools.cache
def prediction_config(dataset):
    """Rule predict_virtual_stain's params.config (with_raw_phase_supplied), once per process; with
    a virtual_stain.checkpoint on the raw plate (phase off), the root attributes of a plate of your
    own that its comparison with the checkpoint reads (with_planned_root)."""
    spec = CONFIG.datasets[dataset]
    config = with_raw_phase_supplied(stage_config(dataset, "virtual_stain"), dataset)
    if spec.phase is None and spec.virtual_stain.checkpoint is not None:
        return with_planned_root(config, dataset)
    return config


def phase_ready(dataset):
    """Files whose existence proves every FOV's phase is written (empty when phase is off)."""
    if CONFIG.datasets[dataset].phase is None:
        return []
    return per_fov(f"{RESULTS}/{{dataset}}/records/phase/{{row}}/{{col}}/{{fov}}.json", dataset)


def phase_record(wildcards):
    """This FOV's phase record (empty when phase is off and the plate holds Phase3D)."""
    if CONFIG.datasets[wildcards.dataset].phase is None:
        return []
    return [f"{RESULTS}/{wildcards.dataset}/records/phase/{fov_name(wildcards)}.json"]


def all_outputs():
    targets = []
    for dataset in SIMULATED:
        targets += [
            f"{RESULTS}/{dataset}/ground_truth/tracks.parquet",
            f"{RESULTS}/{dataset}/ground_truth/summary.parquet",
        ]
        targets += [f"{RESULTS}/{dataset}/figures/ground_truth_preview.{ext}" for ext in ("png", "svg")]
        if CONFIG.datasets[dataset].phase is not None:
            targets.append(f"{RESULTS}/{dataset}/evaluation/phase.csv")
    for dataset in DATASETS:
        spec = CONFIG.datasets[dataset]
        targets += phase_ready(dataset)
        if spec.virtual_stain is not None:
            targets += vs_ready(dataset)
            if spec.is_simulated:
                targets.append(f"{RESULTS}/{dataset}/evaluation/virtual_stain.csv")
        targets.append(f"{RESULTS}/{dataset}/tracks.parquet")
        targets.append(f"{RESULTS}/{dataset}/qc.csv")
        targets += qc_figure_files(dataset)
        if spec.is_simulated:  # ultrack's tracks or imported ones
            targets.append(f"{RESULTS}/{dataset}/evaluation/tracking.csv")
    for dataset, spec_name in patch_jobs():
        targets += list(patch_store(dataset, spec_name).values())
    targets += [f"{RESULTS}/models/{model}/model.ckpt" for model in MODELS]
    return targets


# ------------------------------------------------------------------ models and embeddings
def wildcard_choice(names):
    """Regex matching exactly ``names``; one that matches nothing when there are none."""
    return "|".join(names) if names else "(?!)"


MODELS = sorted(CONFIG.contrastive_models)
#: Models trained here (rule train_contrastive) and models read from a file (rule import_model).
TRAINED_MODELS = [m for m in MODELS if not CONFIG.contrastive_models[m].is_loaded]
LOADED_MODELS = [m for m in MODELS if CONFIG.contrastive_models[m].is_loaded]
BASELINES = list(CONFIG.analysis.baselines)


def model_patch_spec(model):
    return CONFIG.contrastive_models[model].training.patch_spec


def reference_model(dataset):
    """The first model (sorted) embedding ``dataset``: the baselines copy its patch spec, and the
    random-weights baseline its architecture and seed."""
    embedding = [m for m in MODELS if dataset in CONFIG.embedded_datasets(m)]
    z_fold = [m for m in embedding if CONFIG.contrastive_models[m].training.stem == "z_fold"]
    return (z_fold or embedding)[0]


def embedded_checkpoint(model, dataset):
    """The model whose model.ckpt the embed job of (model, dataset) reads, and the hash of its
    training config as training and import_model hash it, run keys held at their defaults
    (ContrastiveModelConfig.job_params: what the job checks the checkpoint against); (None, None)
    without one."""
    kind = model_kind(model)
    if kind == "engineered_features":
        return None, None
    owner = reference_model(dataset) if kind == "random_weights" else model
    return owner, config_hash(CONFIG.contrastive_models[owner].training.job_params())


def embedding_jobs():
    """(model, dataset, patch spec) for every embedding to compute.

    A model embeds each dataset of WorkflowConfig.embedded_datasets (its training datasets, then
    every other dataset giving the same input); each baseline embeds every dataset some model
    embeds (of analysis.baseline_datasets when given), with the patch spec of that dataset's
    reference model.
    """
    return CONFIG.embedding_pairs()


def embedding_spec(model, dataset):
    """Patch spec that ``model`` embeds on ``dataset``."""
    return next(spec for m, d, spec in embedding_jobs() if m == model and d == dataset)


def training_stores(model):
    """The patch stores (zarr, parquet lists) a trained model pools, in train_datasets order."""
    stores = [patch_store(d, model_patch_spec(model)) for d in CONFIG.contrastive_models[model].train_datasets]
    return {"zarr": [s["zarr"] for s in stores], "parquet": [s["parquet"] for s in stores]}


def distribution(model, dataset):
    """How ``dataset`` relates to what ``model`` learnt from: 'in' (a training dataset), 'out' (trained
    on others), 'external' (read from a file: its training data are unknown here), 'untrained'
    (baselines)."""
    if model not in CONFIG.contrastive_models:
        return "untrained"
    entry = CONFIG.contrastive_models[model]
    if entry.is_loaded:
        return "external"
    return "in" if dataset in entry.train_datasets else "out"


def imported_spec(model):
    """The patch spec a loaded model's input is taken from: its spec on the first dataset it embeds
    (the others give the same input: the config checks it)."""
    return CONFIG.datasets[CONFIG.embedded_datasets(model)[0]].patch_spec(model_patch_spec(model))


def imported_input(model):
    """Channels (with their normalisation), per-time-point normalisation, slices and size of the
    input a loaded model takes: its patch spec on the first dataset it embeds (slices from the plates
    its channels are read from when the spec keeps them all: a 2d phase plate has one)."""
    dataset = CONFIG.embedded_datasets(model)[0]
    spec = imported_spec(model)
    # the depth of the plates the spec's channels are read from (a 2d phase plate has one slice);
    # the raw plate's where they differ (the plan refuses that)
    n_z = stack_slices(CONFIG, dataset, model_patch_spec(model), plate_layout(dataset))
    n_z = plate_layout(dataset).shape_tczyx[2] if n_z is None else n_z
    kept = spec.z_slices(n_z)
    depth = len(range(*kept.indices(n_z)))
    selected = CONFIG.contrastive_models[model].training.input_channels
    return {
        "in_channels": len(spec.channels),
        "in_stack_depth": depth,
        "patch_size_yx_px": spec.patch_size_yx_px,
        "channel_indices": None if selected is None else channel_indices(spec, selected),
        "channels": spec.channel_labels(),
        "normalize_per_time_point": spec.normalize_per_time_point,
    }


@functools.cache
def sampling_record(dataset, spec):
    """The sampling of a dataset's patches of a spec as the dry run compares it
    (dynaclr.config.transfer_checks.dataset_sampling: pixel size, z step, time interval, None where
    nothing states it), JSON-ready: what a trained model records and an imported one is compared with."""
    return dataset_sampling(CONFIG, dataset, spec, plate_layout(dataset)).to_json()


def training_sampling(model):
    """Rule train_contrastive's --training-sampling: the sampling of each training dataset, in order."""
    spec = model_patch_spec(model)
    return json.dumps([sampling_record(d, spec) for d in CONFIG.contrastive_models[model].train_datasets])


def embedded_sampling(model):
    """Rule import_model's check: the sampling of each dataset the model embeds, by name, the first
    that of imported_input, with the slices of its stacks (stack_slices: a depth refused names the
    datasets no spec gives the model's)."""
    spec = model_patch_spec(model)
    return {
        d: {**sampling_record(d, spec), "stack_slices": stack_slices(CONFIG, d, spec, plate_layout(d))}
        for d in CONFIG.embedded_datasets(model)
    }


def imported_sampling_check(model, dataset):
    """Rule embed's check of a model read from a file (by import_model): the dataset's sampling and
    the model's allow_other_scales; None for the others (the dry run compared a trained model's
    datasets; a baseline learnt nothing)."""
    entry = CONFIG.contrastive_models.get(model)
    if entry is None or not entry.is_loaded:
        return None
    return {
        "sampling": sampling_record(dataset, model_patch_spec(model)),
        "allow_other_scales": entry.allow_other_scales,
    }


def patch_store(dataset, spec):
    """The collected patch store of a dataset and spec: rule collect_patches's outputs, by name."""
    return {
        "zarr": store_file(f"{RESULTS}/{dataset}/patches/{spec}.zarr"),
        "parquet": f"{RESULTS}/{dataset}/patches/{spec}.parquet",
    }


# ------------------------------------------------------------------ image stages
def vs_ready(dataset):
    return per_fov(f"{RESULTS}/{{dataset}}/records/virtual_stain/{{row}}/{{col}}/{{fov}}.json", dataset)


def qc_figure_fovs(dataset):
    """The FOVs that image_qc_figure draws, datasets.<name>.qc_figures.max_fovs of them, evenly
    spread over the plate's FOV list."""
    names = fovs(dataset)
    count = min(CONFIG.datasets[dataset].qc_figures.max_fovs, len(names))
    if count == 0:
        return []
    step = (len(names) - 1) / max(count - 1, 1)
    return [names[round(i * step)] for i in range(count)]


def qc_figure_files(dataset):
    files = []
    for name in qc_figure_fovs(dataset):
        row, col, fov = name.split("/")
        files += [f"{RESULTS}/{dataset}/figures/qc/{row}_{col}_{fov}.{ext}" for ext in ("png", "svg")]
    return files


def image_qc_figure_inputs(wildcards):
    """Rule image_qc_figure's inputs (dynaclr.qc.figure.ImageQcFigureInputs): the plate of every
    image stage the dataset runs, this FOV's records of those stages (the plates exist before
    their FOVs are written) and its tracks (this FOV's CSV, or the imported table)."""
    dataset, spec = wildcards.dataset, CONFIG.datasets[wildcards.dataset]
    inputs = {"raw_plate": raw_plate_input(dataset), "records": phase_record(wildcards)}
    inputs["fov_metadata"] = fov_metadata(dataset, fov_name(wildcards))
    if spec.phase is not None:
        inputs["phase_plate"] = store_file(f"{RESULTS}/{dataset}/phase.zarr")
    if spec.virtual_stain is not None:
        inputs["virtual_stain_plate"] = store_file(f"{RESULTS}/{dataset}/virtual_stain.zarr")
        inputs["records"] = inputs["records"] + [f"{RESULTS}/{dataset}/records/virtual_stain/{fov_name(wildcards)}.json"]
    if spec.imports_tracks:
        inputs["tracks"] = f"{RESULTS}/{dataset}/tracks.parquet"
    else:
        row, col, fov = wildcards.row, wildcards.col, wildcards.fov
        inputs["tracks_plate"] = store_file(f"{RESULTS}/{dataset}/tracks.zarr")
        inputs["tracks"] = f"{RESULTS}/{dataset}/tracks/{row}/{col}/{fov}/tracks_{row}_{col}_{fov}.csv"
        inputs["tracking_plate"] = tracking_input_plate(dataset)
    return inputs


def track_records(dataset):
    """Every FOV's tracking record (rule track_fov); none when the dataset imports its tracks."""
    if CONFIG.datasets[dataset].imports_tracks:
        return []
    return per_fov(f"{RESULTS}/{{dataset}}/records/tracks/{{row}}/{{col}}/{{fov}}.json", dataset)


def qc_import_records(wildcards):
    """Rule qc_table's import records (dynaclr.qc.QcTableInputs): import_records(dataset)."""
    return import_records(wildcards.dataset)


def import_records(dataset):
    """A dataset's import records: the raw plate converted from TIFF files (its record states the
    conversion's warnings) where its plate is one rule convert_tiff writes (its own, or another TIFF
    dataset's it names), the imported tracks table (its record states the frames each CTC folder
    tracked and the import's warnings) where the dataset imports its tracks, and the imported
    annotations where it imports a table the classifiers read (the import runs then anyway); none for
    a dataset that converts and imports nothing (a simulated plate or one of one's own, ultrack's
    tracks, annotations drawn from the ground truth)."""
    records = {}
    plate = raw_plate(dataset)
    if any(raw_plate(converted) == plate for converted in TIFF_DATASETS):
        records["converted_plate"] = plate
    if CONFIG.datasets[dataset].imports_tracks:
        records["imported_tracks"] = f"{RESULTS}/{dataset}/tracks.parquet"
    # IMPORTED and classified_pairs: analysis_common.smk, included after this file (called at planning)
    if dataset in IMPORTED and any(d == dataset for _, d in classified_pairs()):
        records["imported_annotations"] = f"{RESULTS}/{dataset}/annotations.parquet"
    return records


def tracked_labels(wildcards):
    """Rule evaluate_tracking's label images of the tracks: ultrack's tracks plate; none for imported
    tracks, which are matched to the ground truth by position (dynaclr.tracking.evaluate)."""
    if CONFIG.datasets[wildcards.dataset].imports_tracks:
        return {}
    return {"tracks_plate": store_file(f"{RESULTS}/{wildcards.dataset}/tracks.zarr")}


def imported_tracks_files(wildcards):
    """Rule import_tracks's inputs (dynaclr.tracking.ImportTracksInputs): the table, or every FOV's
    ultrack CSV, CTC folder (and its res_track.txt or man_track.txt) or TrackMate XML file, in the plate's FOV order;
    and the raw plate, whose images the positions are checked against (x and y swapped, µm for pixels):
    a plate of your own as ``ancient()`` with every position's metadata file (import_tracks_metadata:
    a position added or removed reruns the import, one the check read written again too; the root
    touched does not)."""
    tracks = CONFIG.datasets[wildcards.dataset].tracks
    plate = {"plate": raw_plate_input(wildcards.dataset), "fov_metadata": import_tracks_metadata(wildcards.dataset)}
    if tracks.format == "table":
        return {"files": [tracks.path], **plate}
    files = {"files": user_fov_files(tracks.path, wildcards.dataset), **plate}
    if tracks.format == "ctc":
        files["ctc_lineage"] = list(ctc_lineages(wildcards.dataset).values())
    return files


def import_tracks_metadata(dataset):
    """Rule import_tracks' fov_metadata: every position's metadata file of a plate of your own
    (fov_metadata), so a position added or removed reruns the import (the set of its inputs
    changed), as plate_fov_metadata; those of the positions whose images the import checked the
    tracks against, as its tracks table's record names them (dynaclr.io.tables.import_checked_fovs:
    the check reads a few FOVs, chosen by the tracks alone), as plain inputs, so one of them written
    again reruns the check, as a FOV's own jobs rerun; the others as ``ancient()``: the import reads
    nothing of them, and rerunning it reruns every FOV's patches (they read its one table). Where no
    record names them (an import of an older dynaclr, a table of unknown origin), all plain: any
    position written again reruns the import once, whose record then names them. None for another
    plate."""
    if not own_plate(dataset):
        return []
    checked = import_checked_fovs(f"{RESULTS}/{dataset}/tracks.parquet")
    return [
        path if checked is None or name in checked else ancient(path)
        for name in own_plate_fovs(dataset)
        for path in fov_metadata(dataset, name)
    ]


@functools.cache
def ctc_lineages(dataset):
    """A `ctc` dataset's lineage file per FOV, in fovs' order: res_track.txt, or a ground truth's
    man_track.txt (ImportedTracksConfig.ctc_lineage); looked up once per process, for the dry run's
    check that the folders are of one layout and for rule import_tracks's inputs."""
    tracks = CONFIG.datasets[dataset].tracks
    return tracks.ctc_lineages(fovs(dataset), pattern_positions(tracks.path, dataset))


def plate_shape_tzyx(dataset):
    """(T, Z, Y, X) of a dataset's raw plate: the frames and pixels imported tracks must lie within."""
    n_t, _, n_z, n_y, n_x = plate_layout(dataset).shape_tczyx
    return [n_t, n_z, n_y, n_x]


def tracked_pixel_size(dataset):
    """The pixel size (µm) of a dataset's tracked positions where the plate's metadata, acquisition or
    the phase config states it, else None (plate_checks.tracked_pixel_size_um): rule import_annotations
    divides a table's y, x in micrometres by it, and tries that reading of a table in pixels."""
    return tracked_pixel_size_um(dataset, CONFIG.datasets[dataset], plate_layout(dataset), RESULTS)


def plate_stated_sampling(dataset):
    """The raw plate's pixel size and z step (µm) where its metadata states them with their units or
    `acquisition` supplies them, else None (PlateSampling.stated_values: a value read from an axis
    without a unit is a guess, never checked against), its stated time interval
    (`frame_interval_minutes`, where stated) and for format trackmate the guesses (`unitless`, by
    acquisition key, only where there are some): a TrackMate file's calibration and frame interval
    are checked against the stated values, and a check skipped on a guess is said at WARNING; a
    table's or ultrack CSVs' t stepping by the interval in minutes or seconds is refused (t in time
    units; rule import_tracks). Only rule import_tracks' sampling_um (a param of `input`, which
    Snakemake does not compare) holds the interval and the guesses, so they rerun no import."""
    layout = plate_layout(dataset)
    stated = layout.stated_values()
    sampling = {"pixel_size_um": stated["pixel_size_um"], "z_step_um": stated["z_step_um"]}
    if stated["time_interval_minutes"] is not None:
        sampling["frame_interval_minutes"] = stated["time_interval_minutes"]
    tracks = CONFIG.datasets[dataset].tracks
    if tracks is not None and tracks.format == "trackmate" and layout.unitless:
        sampling["unitless"] = layout.unitless_values()
    return sampling


def divided_by_sizes_um(dataset):
    """Rule import_tracks' compared param divides_by_pixel_size_um: with tracks.position_unit: um the
    plate's stated pixel size (y, x are divided by it) and, on a plate of more than one slice,
    [pixel size, z step] (a z column is divided by the z step); None with px. A plate of one slice
    keeps the value it had before z was divided, so upgrading reruns no 2D import."""
    if CONFIG.datasets[dataset].tracks.position_unit != "um":
        return None
    stated = plate_stated_sampling(dataset)
    if plate_layout(dataset).shape_tczyx[2] == 1:
        return stated["pixel_size_um"]
    return [stated["pixel_size_um"], stated["z_step_um"]]


def import_tracks_checks(dataset):
    """Rule import_tracks' sampling_um (keywords of dynaclr.tracking.import_tracks): what the import
    checks the user's files against, plate_stated_sampling, and for format trackmate of a `tiff:`
    dataset each FOV's TIFF files (`image_files`, {fov_name: paths}), which each TrackMate file's
    ImageData filename is compared with (a WARNING where it is none of them: a wrong
    tiff.positions), and for format table of a `tiff:` dataset each FOV's TIFF position
    (`positions`, {fov_name: position}: a fov_name column holding positions is refused naming their
    FOVs). Added only there, so the params (and jobs) of the other imports stay as they
    were; and carried in this param of `input`, which Snakemake does not compare, so that they rerun
    no import, nor does rule import_tracks' script, unchanged."""
    checks = plate_stated_sampling(dataset)
    spec = CONFIG.datasets[dataset]
    if spec.tiff is not None and spec.tracks is not None and spec.tracks.format == "trackmate":
        files = tiff_index(dataset).files
        checks["image_files"] = {
            fov: [str(path) for path in files.get(fov, {}).values()] for fov in fovs(dataset)
        }
    if spec.tiff is not None and spec.tracks is not None and spec.tracks.format == "table":
        try:
            checks["positions"] = spec.fov_positions(fovs(dataset))
        except ValueError:  # a FOV no position names: the plan refuses it; the words are only a hint
            pass
    return checks


def tracking_input_plate(dataset):
    """The plate tracking reads: the prediction plate, or the raw plate (a plate of your own as
    ``ancient()``: raw_plate_input)."""
    spec = CONFIG.datasets[dataset]
    if spec.tracking_input.source == "virtual_stain":
        return store_file(f"{RESULTS}/{dataset}/virtual_stain.zarr")
    return raw_plate_input(dataset)


def tracking_plate_metadata(dataset):
    """Rule tracks_plate's plate_fov_metadata where tracking reads the raw plate; none where it reads
    the prediction plate (a plate rule virtual_stain_plate writes)."""
    if CONFIG.datasets[dataset].tracking_input.source == "virtual_stain":
        return []
    return plate_fov_metadata(dataset)


def track_fov_inputs(wildcards):
    """Rule track_fov's inputs (dynaclr.tracking.TrackFovInputs) but the label plate, in one function
    (planning calls it once per job): the plate tracking reads, this FOV's virtual-staining record
    where tracking reads the prediction (input_record), and this FOV's metadata file where it reads a
    plate of your own (fov_metadata)."""
    dataset, fov = wildcards.dataset, fov_name(wildcards)
    if CONFIG.datasets[dataset].tracking_input.source != "virtual_stain":
        return {"plate": raw_plate_input(dataset), "input_record": [], "fov_metadata": fov_metadata(dataset, fov)}
    return {
        "plate": store_file(f"{RESULTS}/{dataset}/virtual_stain.zarr"),
        "input_record": [f"{RESULTS}/{dataset}/records/virtual_stain/{fov}.json"],
        "fov_metadata": [],
    }


def patch_jobs():
    """(dataset, patch spec name) of every patch store to collect."""
    return [(d, spec.name) for d in DATASETS for spec in CONFIG.datasets[d].patches]


def vs_checkpoint(dataset):
    """The trained checkpoint, or the local weights file the config names."""
    spec = CONFIG.datasets[dataset].virtual_stain
    if spec.checkpoint is not None:
        return spec.checkpoint
    return f"{RESULTS}/{dataset}/virtual_stain/model.ckpt"


def model_dir(model):
    return f"{RESULTS}/models/{model}"


@functools.cache
def patch_spec_config(dataset, spec):
    """The patch spec's config subtree (rule extract_patches's params.config), dumped once per process,
    with the sampling `acquisition` supplies for a plate stating none (with_supplied), the root
    attributes of a raw plate of your own that a source reads (with_planned_root) and, for a spec
    with pixel_size_um, the plate pixel size the dry run checked (resampled_plate_pixel_size_um: the
    phase config's yx_pixel_size_um where it corrects the metadata), which the job resamples from."""
    entry = CONFIG.datasets[dataset]
    config = with_supplied(entry.patch_spec(spec).model_dump(mode="json"), dataset)
    sources = {channel.source for channel in entry.patch_spec(spec).channels}
    reads_raw = "raw" in sources or ("phase" in sources and entry.phase is None)
    if reads_raw:
        config = with_planned_root(config, dataset)
    if entry.patch_spec(spec).pixel_size_um is None:
        return config
    size = resampled_plate_pixel_size_um(dataset, entry, spec, plate_layout(dataset), RESULTS)
    return {**config, PLATE_PIXEL_SIZE_KEY: size}


@functools.cache
def raw_plate_root(dataset):
    """The root attributes the per-FOV jobs read of a `plate:` dataset's plate of your own (no dynaclr
    record: dynaclr.io.plate.planned_root_attributes), read once per process; None for every other
    plate (a plate the workflow writes holds copies of its root in its positions)."""
    spec = CONFIG.datasets[dataset]
    if spec.plate is None or raw_plate(dataset) != spec.plate:
        return None
    try:
        return planned_root_attributes(spec.plate)
    except ArtifactError as err:
        raise WorkflowError(f"datasets.{dataset}.plate: {err}") from None


def with_planned_root(params_config, dataset):
    """A per-FOV rule's params.config with the root attributes its jobs read of the dataset's raw
    plate of your own, by the plate's path (dynaclr.io.plate.PLANNED_ROOT_KEY): its jobs read no
    metadata of the plate's root, a changed attribute reruns them and touching the root reruns
    none. Unchanged for any other plate."""
    root = raw_plate_root(dataset)
    return params_config if root is None else {**params_config, PLANNED_ROOT_KEY: {raw_plate(dataset): root}}


def patch_fov_inputs(wildcards):
    """Rule extract_patches's inputs (the names of dynaclr.patches.ExtractPatchesInputs): plate_<source>
    for each source the spec reads, this FOV's phase / virtual-staining records, and its tracks: the
    FOV's own CSV and record from track_fov, or the imported table. Only this FOV's files: a per-FOV
    job that named the plate's N records, or a file made from N inputs, would make planning a plate
    quadratic in its FOVs (benchmarks/planning.py)."""
    dataset, fov = wildcards.dataset, fov_name(wildcards)
    spec = CONFIG.datasets[dataset].patch_spec(wildcards.spec)
    inputs, records = {}, []
    for channel in spec.channels:
        if channel.source == "raw":
            inputs["plate_raw"] = raw_plate_input(dataset)
        elif channel.source == "phase":
            inputs["plate_phase"] = phase_plate(dataset)
            if CONFIG.datasets[dataset].phase is not None:
                records.append(f"{RESULTS}/{dataset}/records/phase/{fov}.json")
        else:
            inputs["plate_virtual_stain"] = store_file(f"{RESULTS}/{dataset}/virtual_stain.zarr")
            records.append(f"{RESULTS}/{dataset}/records/virtual_stain/{fov}.json")
    inputs["records"] = sorted(set(records))
    if "plate_raw" in inputs or CONFIG.datasets[dataset].phase is None and "plate_phase" in inputs:
        inputs["fov_metadata"] = fov_metadata(dataset, fov)
    if CONFIG.datasets[dataset].imports_tracks:
        inputs["tracks"] = f"{RESULTS}/{dataset}/tracks.parquet"
    else:
        row, col, name = fov.split("/")
        inputs["tracks"] = f"{RESULTS}/{dataset}/tracks/{row}/{col}/{name}/tracks_{row}_{col}_{name}.csv"
        inputs["tracks_record"] = f"{RESULTS}/{dataset}/records/tracks/{fov}.json"
    return inputs


# ------------------------------------------------------------------ the config against the plates
# Channels, tau, backbones, patch windows and the sampling of the datasets a model reads
# (dynaclr.config.transfer_checks) are checked against the plates' metadata here, so
# `snakemake -n` fails before any job runs. Only the main process checks: a job (a SLURM job parses
# the Snakefile again) was planned by a run that did.
if workflow.is_main_process:
    _LAYOUTS = {d: plate_layout(d) for d in DATASETS}
    # the lineage files of CTC folders, looked up once: checked here, rule import_tracks's inputs
    _CTC = [d for d in DATASETS if d not in TRACKED and CONFIG.datasets[d].tracks.format == "ctc"]
    _PROBLEMS = workflow_problems(CONFIG, _LAYOUTS, RESULTS, {d: ctc_lineages(d) for d in _CTC})
    _PROBLEMS += transfer_problems(CONFIG, _LAYOUTS)
    if CONFIG.analysis.classification.imported:  # classifiers of an earlier run: their files, read once
        from dynaclr.classify.model import imported_classifier_problems

        _PROBLEMS += imported_classifier_problems(CONFIG)
    if _PROBLEMS:
        raise WorkflowError(
            "The config does not fit the data (keys are dotted paths from the top):\n" + "\n".join(_PROBLEMS)
        )
    # a result the plan knows will be empty (e.g. an infection F1 no fold can score): in the log,
    # as Snakemake shows no Python warning issued while it parses the workflow
    for message in workflow_warnings(CONFIG, _LAYOUTS, RESULTS) + transfer_warnings(CONFIG, _LAYOUTS):
        logger.warning(f"WARNING {message}")
