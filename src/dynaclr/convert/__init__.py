"""Datasets that arrive as TIFF or OME-TIFF files: the plate they make, read from their headers at
planning (:func:`tiff_layout`), and their conversion into the raw HCS OME-Zarr plate every stage
reads (:func:`convert_tiff`, rule ``convert_tiff``)."""

from dynaclr.convert.stage import ConvertTiffInputs, ConvertTiffOutputs, convert_tiff, to_tczyx
from dynaclr.convert.tiff import (
    TiffFiles,
    TiffHeader,
    find_tiff_files,
    first_fov_files,
    index_tiff_files,
    layout_from_headers,
    read_first_tiff_header,
    read_tiff_header,
    read_tiff_headers,
    read_tiff_sampling,
    tiff_layout,
)

__all__ = [
    "ConvertTiffInputs",
    "ConvertTiffOutputs",
    "TiffFiles",
    "TiffHeader",
    "convert_tiff",
    "find_tiff_files",
    "first_fov_files",
    "index_tiff_files",
    "layout_from_headers",
    "read_first_tiff_header",
    "read_tiff_header",
    "read_tiff_headers",
    "read_tiff_sampling",
    "tiff_layout",
    "to_tczyx",
]
