"""Phase reconstruction from brightfield z-stacks with waveorder (rules ``phase_transfer_function``,
``phase_plate``, ``reconstruct_phase``, ``evaluate_phase``).

One transfer function per dataset (:func:`compute_transfer_function`), an empty output plate
(:func:`create_phase_plate`), one job per FOV (:func:`reconstruct_fov`) and a comparison with
the simulator's true phase (:func:`evaluate_phase`). Each stage takes its config and the rule's
named files (``<Rule>Inputs`` / ``<Rule>Outputs``, :class:`dynaclr.io.StageFiles`).
"""

from dynaclr.phase.evaluate import (
    EVALUATION_COLUMNS,
    EvaluatePhaseInputs,
    EvaluatePhaseOutputs,
    evaluate_phase,
    passband_reference,
)
from dynaclr.phase.reconstruct import (
    PHASE_CHANNEL,
    PhasePlateInputs,
    PhasePlateOutputs,
    ReconstructPhaseInputs,
    ReconstructPhaseOutputs,
    create_phase_plate,
    phase_plate_shape,
    reconstruct_fov,
    reconstruct_stack,
)
from dynaclr.phase.transfer_function import (
    PhaseTransferFunctionInputs,
    PhaseTransferFunctionOutputs,
    TransferFunction,
    calculate_transfer_function,
    compute_transfer_function,
    load_transfer_function,
)

__all__ = [
    "EVALUATION_COLUMNS",
    "PHASE_CHANNEL",
    "EvaluatePhaseInputs",
    "EvaluatePhaseOutputs",
    "PhasePlateInputs",
    "PhasePlateOutputs",
    "PhaseTransferFunctionInputs",
    "PhaseTransferFunctionOutputs",
    "ReconstructPhaseInputs",
    "ReconstructPhaseOutputs",
    "TransferFunction",
    "calculate_transfer_function",
    "compute_transfer_function",
    "create_phase_plate",
    "evaluate_phase",
    "load_transfer_function",
    "passband_reference",
    "phase_plate_shape",
    "reconstruct_fov",
    "reconstruct_stack",
]
