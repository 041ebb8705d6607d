"""Each position's copy of its plate's root attributes (``dynaclr_plate``, what per-FOV jobs read):
bounded in size whatever the record lists, and refused where it disagrees with the root."""

from __future__ import annotations

from pathlib import Path

import pytest
import zarr
from iohub.ngff import open_ome_zarr
from plate_helpers import write_plate

from dynaclr.io import ArtifactError, make_provenance, read_zarr_provenance, write_plate_provenance
from dynaclr.io.plate import read_plate_layout
from dynaclr.io.zarr_store import OMITTED_INPUTS_KEY, PLATE_ATTRIBUTES_KEY, read_plate_attribute

FOVS = ["A/1/0", "B/1/0"]


def _dynaclr_plate(path: Path, n_inputs: int, interval: float = 10.0) -> Path:
    """A plate of ``FOVS`` as convert_tiff writes it: its record lists ``n_inputs`` TIFF files."""
    plate = write_plate(path, FOVS, ["Nuclei"], (6, 1, 3, 64, 48))  # time scale 600 s
    with open_ome_zarr(plate, layout="hcs", mode="r+") as writer:
        writer.zattrs["time_interval_minutes"] = interval
    files = [f"/data/acquisition/tiffs/position_{i:05d}/img_channel000_t{i:04d}.tif" for i in range(n_inputs)]
    write_plate_provenance(
        plate, make_provenance("raw_plate", {"files": "x"}, files, stage="convert_tiff"), FOVS
    )
    return plate


def _layout_refusal(plate: Path) -> str:
    """What :func:`read_plate_layout` (the dry run) refuses ``plate`` with."""
    with pytest.raises(ArtifactError) as raised:
        read_plate_layout(plate)
    return str(raised.value)


def _copy(plate: Path, fov: str) -> dict:
    return zarr.open_group(str(plate / fov), mode="r").attrs[PLATE_ATTRIBUTES_KEY]


def test_a_record_of_many_inputs_is_copied_into_the_positions_without_them(tmp_path: Path) -> None:
    """A record listing 5,000 TIFF files stays whole at the root; each position's zarr.json holds the
    record without them (their count and hash instead): as small as with two inputs."""
    few, many = _dynaclr_plate(tmp_path / "few.zarr", 2), _dynaclr_plate(tmp_path / "many.zarr", 5000)
    small = max((few / fov / "zarr.json").stat().st_size for fov in FOVS)
    for fov in FOVS:
        assert (many / fov / "zarr.json").stat().st_size < small + 1000, fov
        copied = _copy(many, fov)
        assert copied["dynaclr"]["inputs"] == []
        assert copied[OMITTED_INPUTS_KEY]["count"] == 5000
        assert len(copied[OMITTED_INPUTS_KEY]["sha256"]) == 64
        provenance = read_zarr_provenance(many, "raw_plate", fov)  # the slim copy reads as a record
        assert (provenance.kind, provenance.stage, provenance.inputs) == ("raw_plate", "convert_tiff", [])
        assert provenance.config_hash == read_zarr_provenance(many, "raw_plate").config_hash
    assert len(read_zarr_provenance(many, "raw_plate").inputs) == 5000  # the root keeps them
    assert [i.path for i in read_zarr_provenance(few, "raw_plate", "A/1/0").inputs] == [
        i.path for i in read_zarr_provenance(few, "raw_plate").inputs
    ]  # a short list is copied whole (recorded_input reads it)
    assert OMITTED_INPUTS_KEY not in _copy(few, "A/1/0")
    assert read_plate_layout(many).fov_names == tuple(FOVS)  # slimmed copies agree with the root


@pytest.mark.parametrize("by_hand", [False, True], ids=["as_written", "root_corrected_by_hand"])
def test_a_root_attribute_that_disagrees_is_refused_with_the_rule_that_wrote_the_plate(
    by_hand: bool, tmp_path: Path
) -> None:
    """A plate written with a time_interval_minutes of 5 min beside its 600 s scale is refused with its
    rule as the fix, not "correct the attribute" (its positions' copies would go stale). Its root
    attribute corrected by hand to 10 min would leave every job reading its position's stale copy (5):
    the layout (the dry run) refuses it naming the position, the key, both values and the fix."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 2, interval=5.0)
    refused = {
        False: f"{plate}: plate attribute time_interval_minutes 5 min disagrees with the time scale of "
        "position A/1/0 (10 min = 600 s, within 0.001 relative); this plate was written by dynaclr: "
        "rewrite it with its rule, `snakemake --forcerun convert_tiff`, not by hand (its positions hold "
        "copies of the attribute)",
        True: f"{plate / 'A/1/0' / 'zarr.json'} (dynaclr_plate) (and 1 other position): the copy of the "
        f"plate's root attributes its per-FOV jobs read disagrees with the root ({plate / 'zarr.json'}): "
        "time_interval_minutes: position 5.0, root 10.0. The root or the positions were edited after the "
        "plate was written: rerun the rule that wrote the plate (`snakemake --forcerun convert_tiff`), or "
        "delete 'dynaclr_plate' from every position's attributes (jobs then read the root)",
    }
    if by_hand:
        zarr.open_group(str(plate), mode="r+").attrs["time_interval_minutes"] = 10.0
        assert read_plate_attribute(plate, "time_interval_minutes", "A/1/0") == 5.0  # what a job would read
    assert _layout_refusal(plate) == refused[by_hand]


def test_a_position_copy_of_another_record_is_refused_naming_the_record_key(tmp_path: Path) -> None:
    """One position's copy edited (its record's config hash) is refused naming the record's key."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 40)
    group = zarr.open_group(str(plate / "B/1/0"), mode="r+")
    copied = group.attrs[PLATE_ATTRIBUTES_KEY]
    group.attrs[PLATE_ATTRIBUTES_KEY] = {**copied, "dynaclr": {**copied["dynaclr"], "config_hash": "0" * 16}}
    message = _layout_refusal(plate)
    assert message.startswith(f"{plate / 'B/1/0' / 'zarr.json'} (dynaclr_plate): "), message
    root_hash = read_zarr_provenance(plate, "raw_plate").config_hash
    assert f": dynaclr.config_hash: position '{'0' * 16}', root '{root_hash}'. " in message


def test_a_refused_copy_of_the_record_is_named_where_it_lies(tmp_path: Path) -> None:
    """A per-FOV job's refusal of its position's copy of the record names that copy, not the root."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 2)
    with pytest.raises(ArtifactError) as raised:
        read_zarr_provenance(plate, "phase_plate", "B/1/0")
    assert str(raised.value).startswith(
        f"{plate / 'B/1/0' / 'zarr.json'} (dynaclr_plate): expected an artifact of kind 'phase_plate', "
        "found kind 'raw_plate'"
    )


def test_a_copy_of_the_whole_record_written_before_records_were_slimmed_is_read(tmp_path: Path) -> None:
    """A plate converted before records of many inputs were slimmed holds the whole record in each
    position: it agrees with the root, and is read."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 40)
    whole = {k: v for k, v in zarr.open_group(str(plate), mode="r").attrs.asdict().items() if k != "ome"}
    for fov in FOVS:
        zarr.open_group(str(plate / fov), mode="r+").attrs[PLATE_ATTRIBUTES_KEY] = whole
    assert len(read_zarr_provenance(plate, "raw_plate", "A/1/0").inputs) == 40
    assert read_plate_layout(plate).fov_names == tuple(FOVS)


def test_a_note_added_to_the_root_that_no_job_reads_plans_fine(tmp_path: Path) -> None:
    """A root key no job reads (a note of your own) is not in the positions' copies: the plate plans;
    a key jobs read added to the root after the copies were written is refused."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 2)
    zarr.open_group(str(plate), mode="r+").attrs["description"] = "my notes"
    assert read_plate_layout(plate).fov_names == tuple(FOVS)
    zarr.open_group(str(plate), mode="r+").attrs["supplied_sampling"] = {"z_step_um": 2.0}
    assert "supplied_sampling: position (absent), root {'z_step_um': 2.0}" in _layout_refusal(plate)


def test_a_dynaclr_plate_without_copies_is_told_to_rerun_the_rule_its_record_names(tmp_path: Path) -> None:
    """A plate an older dynaclr wrote (a record, no copies in its positions) whose attribute disagrees
    with the time scale names the record's rule, and claims no copies."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 2, interval=5.0)
    for fov in FOVS:
        del zarr.open_group(str(plate / fov), mode="r+").attrs[PLATE_ATTRIBUTES_KEY]
    message = _layout_refusal(plate)
    assert "`snakemake --forcerun convert_tiff`" in message, message
    assert "<rule>" not in message and "hold copies" not in message, message


def test_copies_in_a_plate_of_your_own_are_said_to_come_from_another_plate(tmp_path: Path) -> None:
    """Positions holding copies under a root with no dynaclr record (positions copied from a dynaclr
    plate into one of your own): the fix is deleting the copies, not rerunning a rule."""
    plate = _dynaclr_plate(tmp_path / "p.zarr", 2)
    del zarr.open_group(str(plate), mode="r+").attrs["dynaclr"]
    message = _layout_refusal(plate)
    assert "no 'dynaclr' record" in message and "another plate" in message, message
    assert "delete 'dynaclr_plate' from every position's attributes" in message, message
    assert "rerun" not in message, message
