"""Quality control of a dataset across its image stages (rule ``qc_table``).

:func:`qc_table` reads every per-FOV record of a dataset (phase, virtual staining, tracking,
patches) and writes ``results/{dataset}/qc.csv``: per FOV and stage, the frames dropped and the
voxels missing (:mod:`dynaclr.numerics.missing`), FOVs that gave no tracks or patches, and patch
windows mostly outside the image. It reads records only (:mod:`dynaclr.io`), never images.
"""

from dynaclr.qc.table import QC_COLUMNS, STATUSES, QcTableInputs, QcTableOutputs, qc_row, qc_rows, qc_table

__all__ = ["QC_COLUMNS", "STATUSES", "QcTableInputs", "QcTableOutputs", "qc_row", "qc_rows", "qc_table"]
