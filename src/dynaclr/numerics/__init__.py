"""Numerical building blocks shared by several stages (numpy level, no stage imports).

* :mod:`~dynaclr.numerics.pearson`: streaming Pearson correlation over data seen in pieces.
* :mod:`~dynaclr.numerics.normalization`: per-FOV intensity normalisation statistics.
* :mod:`~dynaclr.numerics.missing`: the missing-voxel (NaN, ±inf) policy every pixel-reading stage follows.
* :mod:`~dynaclr.numerics.saturation`: camera full scales and the plateau of voxels clipped at one.
* :mod:`~dynaclr.numerics.repeats`: frames equal voxel for voxel to the frame before (written twice).
* :mod:`~dynaclr.numerics.crop`: windows cut around a pixel with zero padding, centre crops.
* :mod:`~dynaclr.numerics.bootstrap`: percentile-bootstrap intervals over tracks, withheld below two.
* :mod:`~dynaclr.numerics.device`: the torch device a ``device`` setting names (torch users only).
* :mod:`~dynaclr.numerics.progress`: Lightning training progress as log lines (Lightning users only).

Import the submodules directly; this package re-exports nothing, so importing one of them does
not import the others (nor torch). From dynaclr it may import only :mod:`dynaclr.io`.
"""
