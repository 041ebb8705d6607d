"""Ground-truth summary of a simulated plate: the per-FOV table and the preview figure."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dynaclr.config import SummaryConfig
from dynaclr.io import read_table
from dynaclr.summary import SummaryInputs, SummaryOutputs, summarize_ground_truth


def test_summary_table_and_preview_in_both_formats(tiny_plate: dict[str, Path], tmp_path: Path) -> None:
    outputs = SummaryOutputs(
        summary=tmp_path / "summary.parquet",
        preview_png=tmp_path / "preview.png",
        preview_svg=tmp_path / "preview.svg",
    )
    summary = summarize_ground_truth(
        SummaryConfig(preview_frames=2, preview_channels=["Nuclei"]),
        SummaryInputs(tracks=tiny_plate["tracks"], plate=tiny_plate["plate"]),
        outputs,
    )
    truth = pd.read_parquet(tiny_plate["tracks"])
    stored, provenance = read_table(outputs.summary, "ground_truth_summary")
    assert provenance.kind == "ground_truth_summary" and len(stored) == truth["fov_name"].nunique()
    pd.testing.assert_frame_equal(stored, summary)
    assert outputs.preview_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in outputs.preview_svg.read_bytes()[:400]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "preview.png",
        "preview.svg",
        "summary.parquet",
    ]
