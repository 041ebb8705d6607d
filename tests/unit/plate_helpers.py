"""Small HCS plates written with iohub at test time: metadata checks need no real pixels."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from iohub.ngff import open_ome_zarr
from iohub.ngff.models import ChannelAxisMeta, SpaceAxisMeta, TimeAxisMeta

from dynaclr.io.plate import OME_ZARR_VERSION, scale_transform


def write_plate(
    path: Path,
    fov_names: list[str],
    channels: list[str],
    shape_tczyx: tuple[int, int, int, int, int],
    *,
    channel_first: bool = False,
    time_interval_s: float = 600.0,
    version: str = OME_ZARR_VERSION,
    dtype: npt.DTypeLike = np.float32,
) -> Path:
    """An HCS plate of zeros (lazily allocated) with ``fov_names`` and ``channels``, OME-Zarr
    ``version`` 0.5 (Zarr v3, dynaclr's own) or 0.4 (Zarr v2, as older tools write it).

    ``channel_first`` stores the arrays as ``(C, T, Z, Y, X)``, axes ``c, t, z, y, x``: valid
    OME-Zarr, but not the order the workflow reads. ``dtype``: the arrays' pixel type.
    """
    axes = None
    shape = shape_tczyx
    if channel_first:
        axes = [
            ChannelAxisMeta(name="c"),
            TimeAxisMeta(name="t", unit="second"),
            *(SpaceAxisMeta(name=name, unit="micrometer") for name in "zyx"),
        ]
        shape = (shape_tczyx[1], shape_tczyx[0], *shape_tczyx[2:])
    with open_ome_zarr(
        path, layout="hcs", mode="w", channel_names=channels, axes=axes, version=version
    ) as plate:
        for name in fov_names:
            position = plate.create_position(*name.split("/"))
            scale = scale_transform(time_interval_s, 2.0, 0.65)
            if channel_first:
                scale[0].scale = [1.0, time_interval_s, 2.0, 0.65, 0.65]
            position.create_zeros("0", shape=shape, dtype=dtype, transform=scale)
    return path


def write_plate_in_channel_orders(
    path: Path,
    orders: dict[str, list[str]],
    images: dict[str, npt.NDArray[Any]],
    *,
    time_interval_s: float = 600.0,
    version: str = OME_ZARR_VERSION,
) -> Path:
    """An HCS plate whose position ``fov`` lists the channels in the order ``orders[fov]`` (one set of
    names in any order), each holding ``images[name]`` (``(T, Z, Y, X)``, the same in every position)
    at that channel's place: what a plate written a position at a time with iohub holds where the
    acquisition listed its channels in another order for some positions. iohub writes the plate's
    first channel list for every position; each other order is written into its position with iohub
    (its pixels in that order, its channels renamed through placeholder names)."""
    first = next(iter(orders.values()))
    with open_ome_zarr(path, layout="hcs", mode="w", channel_names=list(first), version=version) as plate:
        for fov_name, order in orders.items():
            position = plate.create_position(*fov_name.split("/"))
            data = np.stack([images[name] for name in order], axis=1)
            position.create_image("0", data, transform=scale_transform(time_interval_s, 2.0, 0.65))
    for fov_name, order in orders.items():
        if list(order) == list(first):
            continue
        with open_ome_zarr(path / fov_name, layout="fov", mode="r+") as position:
            for index, name in enumerate(first):
                position.rename_channel(name, f"placeholder {index}")
            for index, name in enumerate(order):
                position.rename_channel(f"placeholder {index}", name)
    return path


def rename_position(plate: Path, fov_name: str, new_fov: str) -> Path:
    """Rename position ``fov_name``'s FOV to ``new_fov`` on disk and in its well's metadata, as a
    tool other than iohub could write it (iohub itself refuses names that are not alphanumeric)."""
    row, column, fov = fov_name.split("/")
    well = plate / row / column
    shutil.move(well / fov, well / new_fov)
    with ome_attributes(well) as ome:
        for image in ome["well"]["images"]:
            if image["path"] == fov:
                image["path"] = new_fov
    return plate


@contextmanager
def ome_attributes(group: Path) -> Iterator[dict[str, Any]]:
    """A zarr group's OME attributes to edit in place, written back on exit: ``zarr.json``'s
    ``attributes.ome`` (OME-Zarr 0.5) or ``.zattrs`` (0.4)."""
    if (group / "zarr.json").is_file():
        metadata_file = group / "zarr.json"
        metadata = json.loads(metadata_file.read_text())
        yield metadata["attributes"]["ome"]
    else:
        metadata_file = group / ".zattrs"
        metadata = json.loads(metadata_file.read_text())
        yield metadata
    metadata_file.write_text(json.dumps(metadata))


def edit_position_metadata(
    plate: Path,
    fov_name: str,
    *,
    channels: list[str] | None = None,
    scale: list[float] | None = None,
    translation: list[float] | None = None,
    scale_factor: float | None = None,
) -> Path:
    """Rewrite a position's channel names and its array's scale in its OME metadata, as a tool other
    than iohub could write them (iohub writes one set of channels and any scale per plate); add a
    ``translation`` after the array's scale (a stage position), or multiply its scale by
    ``scale_factor``."""
    with ome_attributes(plate / fov_name) as ome:
        _edit_ome(ome, channels, scale, translation, scale_factor)
    return plate


def _edit_ome(
    ome: dict[str, Any],
    channels: list[str] | None,
    scale: list[float] | None,
    translation: list[float] | None,
    scale_factor: float | None,
) -> None:
    if channels is not None:
        for channel, name in zip(ome["omero"]["channels"], channels, strict=True):
            channel["label"] = name
    if scale is not None:
        ome["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
            {"type": "scale", "scale": scale}
        ]
    transforms = ome["multiscales"][0]["datasets"][0]["coordinateTransformations"]
    if scale_factor is not None:
        for transform in transforms:
            if transform["type"] == "scale":
                transform["scale"] = [value * scale_factor for value in transform["scale"]]
    if translation is not None:
        transforms.append({"type": "translation", "translation": translation})


def napari_layers(position_path: Path) -> list[tuple[np.ndarray, dict, str]]:
    """The layers napari-ome-zarr's reader gives for a store (no viewer): ``(full-resolution data,
    layer keyword arguments, "image" | "labels")``, the data read into memory."""
    from napari_ome_zarr import napari_get_reader

    reader = napari_get_reader(str(position_path))
    assert reader is not None, f"napari-ome-zarr does not read {position_path}"
    return [(np.asarray(data[0]), dict(props), kind) for data, props, kind in reader()]


def assert_image_layers_bracket_their_data(position_path: Path) -> list[tuple[np.ndarray, dict, str]]:
    """Every image layer napari-ome-zarr opens at ``position_path`` starts with contrast limits that
    bracket the bulk of its data (its 5th to 95th percentile, finite voxels) inside the data's range:
    neither black nor saturated. Returns the layers."""
    layers = napari_layers(position_path)
    images = [(data, props) for data, props, kind in layers if kind == "image"]
    assert images, f"no image layer at {position_path}"
    for data, props in images:
        finite = data[np.isfinite(data)]
        low, high = props["contrast_limits"]
        p5, p95 = np.percentile(finite, [5, 95])
        name = props["name"]
        assert finite.min() <= low <= p5, (name, low, p5)
        assert p95 <= high <= finite.max(), (name, high, p95)
        assert high > low, name
    return layers


def record_position_reads(monkeypatch: Any) -> list[Path]:
    """The positions whose metadata dynaclr reads from now on (``monkeypatch``: pytest's fixture), in
    the order read: the list grows as they are read."""
    import dynaclr.io.plate as plate_io

    read: list[Path] = []
    read_position = plate_io._position_metadata

    def recording(position: Path) -> tuple[dict[str, Any] | None, Any]:
        read.append(position)
        return read_position(position)

    monkeypatch.setattr(plate_io, "_position_metadata", recording)
    return read


#: The files holding a zarr node's metadata (Zarr v3, then v2).
METADATA_FILES = ("zarr.json", ".zattrs", ".zgroup", ".zarray")


def record_metadata_reads(monkeypatch: Any) -> list[Path]:
    """The zarr metadata files (:data:`METADATA_FILES`) read from now on, through zarr (and so iohub)
    or dynaclr's own JSON reads (``monkeypatch``: pytest's fixture), in the order read."""
    import zarr.storage._local as local_store

    import dynaclr.io.plate as plate_io

    read: list[Path] = []
    read_file, read_metadata = local_store._get, plate_io._read_zarr_metadata

    def reading_file(path: Path, *rest: Any) -> Any:
        if path.name in METADATA_FILES:
            read.append(path)
        return read_file(path, *rest)

    def reading_metadata(node: Path) -> tuple[dict[str, Any] | None, str | None]:
        read.append(node / METADATA_FILES[0])
        return read_metadata(node)

    monkeypatch.setattr(local_store, "_get", reading_file)
    monkeypatch.setattr(plate_io, "_read_zarr_metadata", reading_metadata)
    return read


def reads_outside_position(read: list[Path], plates: Sequence[Path], fov_name: str) -> list[str]:
    """The metadata files ``read`` (:func:`record_metadata_reads`) holds of ``plates`` outside FOV
    ``fov_name``'s position folder: the plate's root, row and well ``zarr.json`` (and the Zarr v2
    files zarr looks for beside them) and any other position's, relative to the plate."""
    outside = set()
    for path in read:
        for plate in plates:
            try:
                relative = path.relative_to(plate)
            except ValueError:
                continue
            if "/".join(relative.parts[:3]) != fov_name:
                outside.add(f"{plate.name}/{relative}")
    return sorted(outside)


def assert_positions_copy_the_root(plate: Path) -> None:
    """Each position of ``plate`` holds, under ``dynaclr_plate``, the plate's root attributes but its
    OME-NGFF metadata (what per-FOV jobs read in place of the root); a record of more than
    ``MAX_COPIED_INPUTS`` inputs without them, their count beside it."""
    import zarr

    from dynaclr.io.zarr_store import (
        MAX_COPIED_INPUTS,
        OMITTED_INPUTS_KEY,
        PLATE_ATTRIBUTES_KEY,
        PLATE_METADATA_KEYS,
    )

    root = zarr.open_group(str(plate), mode="r")
    attributes = root.attrs.asdict()
    expected = {key: value for key, value in attributes.items() if key not in PLATE_METADATA_KEYS}
    inputs = expected["dynaclr"]["inputs"]
    with open_ome_zarr(plate, layout="hcs", mode="r") as store:
        names = [name for name, _ in store.positions()]
    assert names
    for name in names:
        copied = dict(zarr.open_group(str(plate / name), mode="r").attrs[PLATE_ATTRIBUTES_KEY])
        if len(inputs) > MAX_COPIED_INPUTS:
            assert copied.pop(OMITTED_INPUTS_KEY)["count"] == len(inputs), name
            assert copied["dynaclr"] == {**expected["dynaclr"], "inputs": []}, name
            copied["dynaclr"] = expected["dynaclr"]
        assert copied == expected, name


def plate_of_your_own(plate: Path, copy: Path) -> Path:
    """``plate`` copied to ``copy`` as a plate another pipeline wrote (with iohub): no dynaclr record at
    its root and no copy of the root's attributes in its positions (``dynaclr_plate``); its other root
    attributes (``time_interval_minutes``, which a plate of your own may state) kept."""
    import shutil

    import zarr

    from dynaclr.io.zarr_store import PLATE_ATTRIBUTES_KEY

    shutil.copytree(plate, copy)
    root = zarr.open_group(str(copy), mode="r+")
    root.attrs.put({key: value for key, value in root.attrs.asdict().items() if key != "dynaclr"})
    with open_ome_zarr(copy, layout="hcs", mode="r") as store:
        names = [name for name, _ in store.positions()]
    for name in names:
        group = zarr.open_group(str(copy / name), mode="r+")
        group.attrs.put(
            {key: value for key, value in group.attrs.asdict().items() if key != PLATE_ATTRIBUTES_KEY}
        )
    return copy


def run_workflow_script(name: str, config: dict[str, Any], inputs: Any, outputs: Any, **params: Any) -> None:
    """Run ``workflow/scripts/<name>.py`` in this process as Snakemake runs it: its ``snakemake``
    object holds the rule's ``params.config`` as the dry run planned it (``config``), the other
    ``params``, and the named ``inputs`` / ``outputs`` (a stage's files models); no log file, one
    thread."""
    import runpy
    from types import SimpleNamespace

    job = SimpleNamespace(
        log=[None],
        threads=1,
        input=inputs.model_dump(exclude_none=True),
        output=outputs.model_dump(exclude_none=True),
        params=SimpleNamespace(config=config, **params),
    )
    script = Path(__file__).resolve().parents[2] / "workflow" / "scripts" / f"{name}.py"
    runpy.run_path(str(script), init_globals={"snakemake": job})
