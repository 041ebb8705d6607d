"""Classifiers of cell states from sparse annotations (paper section 4.4).

* :func:`draw_annotations`: sparse, class-balanced annotations drawn from ground truth;
* :func:`import_annotations_stage`: a person's annotation table (CSV/Parquet) checked and written
  in the same layout (datasets without ground truth);
* :func:`fit_and_evaluate`: StandardScaler → balanced LogisticRegression, FOV-grouped
  cross-validation, F1 / AUROC / balanced accuracy with track-bootstrap CIs, predictions for
  every cell;
* :class:`LinearClassifier`, :func:`save_classifiers`, :func:`load_classifiers`: the fitted
  classifier as plain JSON numbers (no pickle);
* :func:`classify_stage`, :func:`collect_classification`, :func:`infected_fraction_over_time`.

Submodules are imported lazily, so reading annotations does not import scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dynaclr._lazy import lazy_exports

if TYPE_CHECKING:
    from dynaclr.classify.annotation_table import (
        AnnotationTableError,
        import_annotations_stage,
        locate_annotations,
        read_annotation_table,
        validate_annotation_table,
    )
    from dynaclr.classify.annotations import (
        ANNOTATION_COLUMNS,
        TASK_LABELS,
        draw_annotations,
        draw_annotations_stage,
        match_annotations,
        positive_label,
        read_annotations,
        task_classes,
    )
    from dynaclr.classify.evaluate import (
        ClassificationResult,
        Fold,
        auroc_binary,
        balanced_accuracy_binary,
        binary_metrics,
        bootstrap_metrics,
        f1_score_binary,
        fit_and_evaluate,
    )
    from dynaclr.classify.model import LinearClassifier, build_pipeline, load_classifiers, save_classifiers
    from dynaclr.classify.stage import (
        CLASSIFICATION_COLUMNS,
        classify_stage,
        collect_classification,
        infected_fraction_over_time,
        read_predictions,
    )

_EXPORTS = {
    "AnnotationTableError": "annotation_table",
    "import_annotations_stage": "annotation_table",
    "locate_annotations": "annotation_table",
    "read_annotation_table": "annotation_table",
    "validate_annotation_table": "annotation_table",
    "ANNOTATION_COLUMNS": "annotations",
    "TASK_LABELS": "annotations",
    "draw_annotations": "annotations",
    "draw_annotations_stage": "annotations",
    "match_annotations": "annotations",
    "positive_label": "annotations",
    "read_annotations": "annotations",
    "task_classes": "annotations",
    "ClassificationResult": "evaluate",
    "Fold": "evaluate",
    "auroc_binary": "evaluate",
    "balanced_accuracy_binary": "evaluate",
    "binary_metrics": "evaluate",
    "bootstrap_metrics": "evaluate",
    "f1_score_binary": "evaluate",
    "fit_and_evaluate": "evaluate",
    "LinearClassifier": "model",
    "build_pipeline": "model",
    "load_classifiers": "model",
    "save_classifiers": "model",
    "CLASSIFICATION_COLUMNS": "stage",
    "classify_stage": "stage",
    "collect_classification": "stage",
    "infected_fraction_over_time": "stage",
    "read_predictions": "stage",
}

__all__ = [
    "ANNOTATION_COLUMNS",
    "CLASSIFICATION_COLUMNS",
    "TASK_LABELS",
    "AnnotationTableError",
    "ClassificationResult",
    "Fold",
    "LinearClassifier",
    "auroc_binary",
    "balanced_accuracy_binary",
    "binary_metrics",
    "bootstrap_metrics",
    "build_pipeline",
    "classify_stage",
    "collect_classification",
    "draw_annotations",
    "draw_annotations_stage",
    "f1_score_binary",
    "fit_and_evaluate",
    "import_annotations_stage",
    "infected_fraction_over_time",
    "load_classifiers",
    "locate_annotations",
    "match_annotations",
    "positive_label",
    "read_annotation_table",
    "read_annotations",
    "read_predictions",
    "save_classifiers",
    "task_classes",
    "validate_annotation_table",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
