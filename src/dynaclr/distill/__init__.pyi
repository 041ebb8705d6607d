"""Type stub of :mod:`dynaclr.distill`: the names it exports, each imported lazily (lazy_loader)."""

from .intervals import (
    DISTILLATION_COLUMNS as DISTILLATION_COLUMNS,
    DISTILLATION_INTERVAL_COLUMNS as DISTILLATION_INTERVAL_COLUMNS,
    DISTILLATION_SCORE_COLUMNS as DISTILLATION_SCORE_COLUMNS,
    METHODS as METHODS,
    DistillationIntervalsInputs as DistillationIntervalsInputs,
    DistillationIntervalsOutputs as DistillationIntervalsOutputs,
    distillation_intervals_stage as distillation_intervals_stage,
)
from .plots import (
    distillation_caption as distillation_caption,
    plot_distillation as plot_distillation,
    validation_curve as validation_curve,
)
from .split import (
    FovSplit as FovSplit,
    default_heldout_fovs as default_heldout_fovs,
    default_validation_fovs as default_validation_fovs,
    split_by_fov as split_by_fov,
)
from .stage import (
    DistillInputs as DistillInputs,
    DistillOutputs as DistillOutputs,
    StageCells as StageCells,
    StudentChannels as StudentChannels,
    ValidationTarget as ValidationTarget,
    distill_stage as distill_stage,
    pseudo_label_targets as pseudo_label_targets,
    validation_target as validation_target,
)
from .student import (
    StudentClassifier as StudentClassifier,
    StudentScorer as StudentScorer,
    StudentTraining as StudentTraining,
    build_student as build_student,
    encode_rows as encode_rows,
    student_from_encoder as student_from_encoder,
    train_student as train_student,
)
