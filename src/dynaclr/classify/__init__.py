"""Classifiers of cell states from sparse annotations (paper section 4.4).

* :func:`draw_annotations_stage`: sparse, class-balanced annotations drawn from ground truth;
* :func:`import_annotations_stage`: a person's annotation table (CSV/Parquet) checked and written
  in the same layout (datasets without ground truth);
* :func:`lineage_annotations_stage`: division annotations drawn from a tracks table's lineage
  (``annotations.division_from_lineage``, e.g. for imported tracks);
* :func:`fit_and_evaluate`: StandardScaler → balanced LogisticRegression, FOV-grouped
  cross-validation, F1 / AUROC / balanced accuracy with track-bootstrap CIs, predictions for
  every cell;
* :class:`LinearClassifier`, :func:`save_classifiers`, :func:`load_classifiers`: the fitted
  classifier as plain JSON numbers (no pickle);
* :func:`apply_and_evaluate`: a classifier fitted on another dataset predicts, and is scored on
  this dataset's annotations;
* :func:`classify_cells`, :func:`apply_classifiers`: the same on a store's cells and a matrix read a
  block of rows at a time (:func:`~dynaclr.embeddings.open_representation`), never held whole,
  without the CIs: :func:`score_intervals` computes them from the predictions;
* :func:`classify_stage`, :func:`transfer_classifiers_stage`, :func:`classification_intervals_stage`,
  :func:`collect_classification`.

Submodules are imported lazily (lazy_loader), so reading annotations does not import scikit-learn.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
