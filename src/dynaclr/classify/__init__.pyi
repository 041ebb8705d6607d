"""Type stub of :mod:`dynaclr.classify`: the names it exports, each imported lazily (lazy_loader)."""

from .annotation_table import (
    AnnotationTableError as AnnotationTableError,
    ImportAnnotationsInputs as ImportAnnotationsInputs,
    import_annotations_stage as import_annotations_stage,
    locate_annotations as locate_annotations,
    read_annotation_table as read_annotation_table,
    validate_annotation_table as validate_annotation_table,
)
from .annotations import (
    ANNOTATION_COLUMNS as ANNOTATION_COLUMNS,
    TASK_LABELS as TASK_LABELS,
    AnnotationsOutputs as AnnotationsOutputs,
    DrawAnnotationsInputs as DrawAnnotationsInputs,
    LineageAnnotationsInputs as LineageAnnotationsInputs,
    draw_annotations as draw_annotations,
    draw_annotations_stage as draw_annotations_stage,
    draw_lineage_annotations as draw_lineage_annotations,
    lineage_annotations_stage as lineage_annotations_stage,
    lineage_division_states as lineage_division_states,
    positive_label as positive_label,
    read_annotations as read_annotations,
    task_classes as task_classes,
)
from .evaluate import (
    MAX_UNDEFINED_REPLICATE_SHARE as MAX_UNDEFINED_REPLICATE_SHARE,
    BootstrapInterval as BootstrapInterval,
    ClassificationResult as ClassificationResult,
    Fold as Fold,
    apply_and_evaluate as apply_and_evaluate,
    apply_classifiers as apply_classifiers,
    binary_metrics as binary_metrics,
    bootstrap_interval as bootstrap_interval,
    bootstrap_metrics as bootstrap_metrics,
    bootstrap_replicates as bootstrap_replicates,
    classify_cells as classify_cells,
    fit_and_evaluate as fit_and_evaluate,
    percentile_interval as percentile_interval,
    predict_cells as predict_cells,
)
from .model import (
    LinearClassifier as LinearClassifier,
    build_pipeline as build_pipeline,
    load_classifiers as load_classifiers,
    save_classifiers as save_classifiers,
)
from .stage import (
    CLASSIFICATION_COLUMNS as CLASSIFICATION_COLUMNS,
    ClassifyInputs as ClassifyInputs,
    ClassifyOutputs as ClassifyOutputs,
    CollectClassificationInputs as CollectClassificationInputs,
    CollectClassificationOutputs as CollectClassificationOutputs,
    TransferClassifiersInputs as TransferClassifiersInputs,
    TransferClassifiersOutputs as TransferClassifiersOutputs,
    classify_stage as classify_stage,
    collect_classification as collect_classification,
    read_predictions as read_predictions,
    transfer_classifiers_stage as transfer_classifiers_stage,
)
