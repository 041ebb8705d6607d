"""Why an F1 of the results table is empty, in one vocabulary: the plan's reasons (rule
``results_table``'s ``params.pairs``, computed while Snakemake plans the workflow) and the run's
(:func:`dynaclr.figures.table.results_table`, the first page). Plain Python, nothing heavy imported:
the workflow imports it at every plan."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

#: The reason a dataset of one time point (still images) has no smoothness, dynamic range, DTW error
#: nor distance figure (each compares or aligns a cell's frames):
#: :func:`dynaclr.evaluation.temporal.no_adjacent_pairs_reason`, the plan's and the results table's
#: ``temporal_not_computed``. Here rather than in that module, which imports SciPy's statistics (about
#: 0.5 s of CPU in every dry run that read it there).
ONE_TIME_POINT = "one time point"

#: Per F1 column, own and transferred, the column of why it is empty on a (model, dataset)'s row
#: (:func:`dynaclr.figures.table._f1_reasons`, in the words of :func:`no_annotations` and the
#: ``*_not_computed`` plan columns of ``pairs``, :func:`planned_f1_reasons`).
F1_TASKS = ("infection", "division")
F1_NOT_COMPUTED_COLUMNS: dict[str, str] = {
    f"f1_{task}{kind}": f"f1_{task}{kind}_not_computed" for task in F1_TASKS for kind in ("", "_transferred")
}

#: The columns of ``pairs`` (the plan) saying why no F1 of the dataset's own classifiers is computed on
#: a (model, dataset), and per task why none of classifiers fitted elsewhere is
#: (:func:`planned_f1_reasons`; the table's columns of the same names).
PLANNED_F1_REASONS = ("f1_not_computed", *(f"f1_{task}_transferred_not_computed" for task in F1_TASKS))


def no_annotations(dataset: str, task: str | None = None) -> str:
    """``no annotations in <dataset>`` (``no <task> annotations in ...`` for one task): the reason an
    F1 is empty where no labels train or score it, the results table's and the first page's."""
    return f"no {task + ' ' if task else ''}annotations in {dataset}"


def no_classifier(file: str, task: str) -> str:
    """``no <task> classifier in <file>``: why a file of an earlier run (``analysis.classification.
    imported``) gives no transferred F1 of ``task`` (it holds no classifier of it; it has no
    annotations to lack)."""
    return f"no {task} classifier in {file}"


#: Why a classifier scored no annotated cell where no fold explains it (a classifier of another
#: dataset or of an earlier run, applied as it is): ``{metric}_ci_missing`` of its row.
NO_CELL_SCORED = "no annotated cell scored"


def single_class_folds(task: str, classes: tuple[str, str], n_fovs: int, *, planned: bool = False) -> str:
    """Why a classifier of ``task`` (``classes``: its negative and positive labels) cross-validated on
    ``n_fovs`` annotated FOVs scored no annotated cell (no F1, AUROC or balanced accuracy, with no
    CI): every fold's training FOVs held one class (the folds are grouped by FOV), so every fold was
    skipped; e.g. a plate whose wells each hold one condition in one FOV. The metrics'
    ``{metric}_ci_missing`` in ``classification.csv``, the results table's ``f1_<task>_not_computed``
    and the findings' line say it. ``planned``: the plan's wording, before anything ran
    (:func:`~dynaclr.classify.annotation_table.single_fov_class_warnings`): what will happen."""
    negative, positive = classes
    outcome = (
        f"every {task} fold will be skipped and no annotated cell will be scored"
        if planned
        else f"no {task} fold was fitted and no annotated cell scored"
    )
    return (
        f"every cross-validation fold's training FOVs hold only {negative} or only {positive} cells "
        f"({n_fovs} annotated FOVs, folds grouped by FOV), so {outcome}; annotate both classes in more "
        "FOVs, or image more FOVs per condition"
    )


def single_class_fov(task: str, classes: tuple[str, str], fov: str, n_fovs: int) -> str:
    """What the plan knows of a dataset whose positive cells of ``task`` (``classes``: its negative
    and positive labels) can lie in one FOV only (``fov``, of ``n_fovs``: a simulated plate whose
    infected wells hold one FOV): the fold testing that FOV trains on no positive cell and is
    skipped, so no positive cell is ever scored and the F1 is not computed (where the other FOVs hold
    one class too, every fold is: :func:`single_class_folds`). The caller leads with the fix."""
    negative, positive = classes
    return (
        f"only FOV {fov} of {n_fovs} can hold {positive!r} cells, and the {task} classifier's folds are "
        f"grouped by FOV: the fold testing {fov} trains on no {positive!r} cell and is skipped, so no "
        f"{positive!r} cell is scored and its F1 will not be computed (with one FOV of each class, every "
        f"fold's training FOVs hold only {negative} or only {positive} cells)"
    )


def single_fov_class(task: str, classes: tuple[str, str], label: str, fov: str, n_fovs: int) -> str:
    """What the plan knows of a dataset whose annotation table (``annotations.table``) holds ``label``
    (one of ``classes``, the negative and positive labels of ``task``) in one FOV only (``fov``, of
    the ``n_fovs`` the task is annotated in): the fold testing that FOV trains on no such cell and is
    skipped, so none is scored; the positive class confined loses the F1 and AUROC, the negative
    one the AUROC (where each class sits in one FOV, every fold is: :func:`single_class_folds`). The
    caller leads with the fix. Said at planning only, before anything ran: in the future tense."""
    positive = classes[1]
    lost = (
        "its F1 and AUROC will not be computed"
        if label == positive
        else "its AUROC will not be computed and its balanced accuracy will be the recall of "
        f"{positive!r} cells"
    )
    return (
        f"only FOV {fov} of the {n_fovs} annotated FOVs holds {label!r} {task} annotations, and the "
        f"classifier's folds are grouped by FOV: the fold testing {fov} will train on no {label!r} cell "
        f"and be skipped, so no {label!r} cell will be scored and {lost}"
    )


def not_configured(task: str) -> str:
    """Why an F1 of ``task`` is empty on every row: the run classifies other tasks."""
    return f"{task} is not in analysis.classification.tasks"


def planned_f1_reasons(
    model: str,
    dataset: str,
    *,
    tasks: Sequence[str],
    annotation_tasks: Collection[str] | None,
    trains: bool,
    sources: Mapping[str, Collection[str]],
    left_out_by_apply_to: bool,
    skipped: bool,
    imported_files: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Why the plan fits no classifier on (``model``, ``dataset``) (``f1_not_computed``) and, per task
    of :data:`F1_TASKS`, scores none fitted elsewhere on it (``f1_<task>_transferred_not_computed``);
    empty: it does (a reason found at run time, if any, is :func:`dynaclr.figures.table._f1_reasons`').

    ``tasks``: ``analysis.classification.tasks``; ``annotation_tasks``: the tasks of the dataset's
    annotations (None: it has none); ``trains``: its classifiers are fitted (annotated and in
    ``analysis.classification.train_on``); ``sources``: the datasets (and earlier runs' files, by their
    label) whose classifiers predict it, each with the tasks it holds classifiers of (a dataset's
    annotation tasks among ``tasks``, an imported file's own); ``left_out_by_apply_to``:
    ``analysis.classification.apply_to`` leaves it out while another dataset's classifiers (same model)
    could predict it; ``skipped``: transfers to it were left out as the sources' patches differ (a
    baseline's); ``imported_files``: the file of each source of ``sources`` that is an earlier run's
    (by its label), said to hold no classifier of a task (:func:`no_classifier`) where a dataset is
    said to have no annotations of it. A transfer scores a task only where a source holds its
    classifier and the dataset has its labels: the transfer job writes no row otherwise, so the
    reason is known here, not at run time."""
    files = imported_files or {}
    own = ""
    if not trains:
        own = (
            no_annotations(dataset)
            if annotation_tasks is None
            else f"{dataset} is not in analysis.classification.train_on"
        )
    reasons = {"f1_not_computed": own}
    labelled = annotation_tasks or ()
    for task in F1_TASKS:
        holders = [source for source, held in sources.items() if task in held]
        if task not in tasks:
            transferred = not_configured(task)
        elif sources and annotation_tasks is None:
            transferred = no_annotations(dataset)
        elif sources and not holders:
            transferred = "; ".join(
                no_classifier(files[source], task) if source in files else no_annotations(source, task)
                for source in sources
            )
        elif sources:
            transferred = "" if task in labelled else no_annotations(dataset, task)
        elif left_out_by_apply_to:
            transferred = f"{dataset} is not in analysis.classification.apply_to"
        elif skipped:
            transferred = "the other datasets' patches differ from its own (transfers_skipped)"
        else:
            transferred = f"no classifier of {model} fitted on another dataset, nor imported"
        reasons[f"f1_{task}_transferred_not_computed"] = transferred
    return reasons
