"""Ground-truth simulator of a live-cell infection plate (rule ``simulate``).

Cells with a nucleus inside a larger cytoplasm move, divide (rounding up, chromatin
condensing), get infected asynchronously (a viral sensor moves into the nucleus, the ER marker
condenses) and may die. Brightfield z-stacks are computed from the phase volume with
waveorder's forward model. Ground truth (tracks, lineage, infection, mitosis, labels, phase)
is written beside the plate: :func:`simulate_plate` writes the files of :class:`SimulateOutputs`.
"""

from dynaclr.simulate.plate import (
    GROUND_TRUTH_COLUMNS,
    SimulateOutputs,
    simulate_fov_dynamics,
    simulate_plate,
)

__all__ = ["GROUND_TRUTH_COLUMNS", "SimulateOutputs", "simulate_fov_dynamics", "simulate_plate"]
