# Config validation (JSON Schema, then the typed models), dataset/FOV listing, input functions.
from pydantic import ValidationError
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from dynaclr.config import WorkflowConfig
from dynaclr.io.plate import list_plate_fovs


# The typed models first (their errors name the key path), then the JSON Schema users read.
try:
    CONFIG = WorkflowConfig.model_validate(config)
except ValidationError as err:
    raise WorkflowError(f"Invalid config (keys are dotted paths from the top):\n{err}") from None
validate(config, schema="../../config/config.schema.json", set_default=False)
RESULTS = "results"
DATASETS = sorted(CONFIG.datasets)
SIMULATED = [name for name in DATASETS if CONFIG.datasets[name].is_simulated]


wildcard_constraints:
    dataset="|".join(DATASETS),
    row="[A-Z]+",
    col="[0-9]+",
    fov="[0-9]+",


def stage_config(dataset, stage):
    """The rule's own config subtree, defaults filled in (what `params:` compares on rerun)."""
    value = getattr(CONFIG.datasets[dataset], stage)
    return value.model_dump(mode="json")


def raw_plate(dataset):
    """Path of a dataset's raw plate: simulated under results/, or the path the config names."""
    spec = CONFIG.datasets[dataset]
    return f"{RESULTS}/{dataset}/raw.zarr" if spec.is_simulated else spec.plate


def fovs(dataset):
    """FOV names (row/column/fov) of a dataset, from config or from the plate's metadata."""
    spec = CONFIG.datasets[dataset]
    if spec.is_simulated:
        return spec.simulate.fov_names()
    return list_plate_fovs(spec.plate)


def fov_name(wildcards):
    return f"{wildcards.row}/{wildcards.col}/{wildcards.fov}"


def per_fov(pattern, dataset):
    """``pattern`` (with {row}, {col}, {fov}) expanded over a dataset's FOVs."""
    paths = []
    for name in fovs(dataset):
        row, col, fov = name.split("/")
        paths.append(pattern.format(dataset=dataset, row=row, col=col, fov=fov))
    return paths


def phase_plate(dataset):
    """The plate holding Phase3D: reconstructed, or the raw plate when phase is switched off."""
    if CONFIG.datasets[dataset].phase is None:
        return raw_plate(dataset)
    return f"{RESULTS}/{dataset}/phase.zarr"


def phase_ready(dataset):
    """Files whose existence proves every FOV's phase is written (empty when phase is off)."""
    if CONFIG.datasets[dataset].phase is None:
        return []
    return per_fov(f"{RESULTS}/{{dataset}}/records/phase/{{row}}/{{col}}/{{fov}}.json", dataset)


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
        targets += phase_ready(dataset)
    return targets
