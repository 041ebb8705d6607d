"""Ground-truth summary of a simulated dataset (rule ``summarize_ground_truth``).

Reads the ground-truth table and the raw plate as artifacts (provenance-checked) and writes a
per-FOV statistics table and a preview figure of the raw channels with true centroids.
"""

from dynaclr.summary.ground_truth import (
    SummaryInputs,
    SummaryOutputs,
    plot_preview,
    summarize_ground_truth,
    summary_table,
)

__all__ = ["SummaryInputs", "SummaryOutputs", "plot_preview", "summarize_ground_truth", "summary_table"]
