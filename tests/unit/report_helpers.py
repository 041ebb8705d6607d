"""A dataset's records through rule ``qc_table``, then rule ``findings``: what the report shows of them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dynaclr.figures.stage import FindingsInputs, FindingsOutputs, findings_stage
from dynaclr.qc.table import QcTableInputs, QcTableOutputs, qc_table


def qc_and_first_page(
    inputs: QcTableInputs, out: Path, dataset: str, description: str
) -> tuple[pd.DataFrame, str]:
    """Rule qc_table on ``inputs`` (dataset ``dataset``), then rule findings (the dataset described
    as ``description``), writing in ``out``: the import warnings table (QC page) and the first page."""
    outputs = QcTableOutputs(
        table=out / "qc.csv", record=out / "qc.json", import_warnings=out / "import_warnings.csv"
    )
    qc_table(inputs, outputs, dataset=dataset)
    page = FindingsOutputs(rst=out / "findings.rst", csv=out / "findings.csv")
    findings_stage(
        FindingsInputs(qc=(outputs.table,), import_warnings=(outputs.import_warnings,)),
        page,
        datasets={dataset: description},
        models={},
        sources={"qc": [dataset], "import_warnings": [dataset]},
    )
    return pd.read_csv(outputs.import_warnings, keep_default_na=False), page.rst.read_text()
