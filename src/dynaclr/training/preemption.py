"""Save-before-kill for contrastive training: a preemption signal becomes a checkpoint and an exit.

Signals: SIGURG and SIGUSR1 (:data:`PREEMPTION_SIGNALS`). SLURM sends one before a job's time limit
with ``sbatch --signal=<SIG>@<seconds>`` (profiles/slurm passes ``--signal=URG@90``) to every
process of the job's step: under Snakemake's SLURM executor the Snakemake process running the rule,
the rule's shell, torchrun and the training ranks. SIGURG is ignored by default, so only the ranks,
which handle it, react; SIGUSR1 would terminate Snakemake and the shell, which do not handle it, and
fail the job at once. It is handled for jobs that run torchrun without Snakemake in between (e.g.
``sbatch --signal=USR1@90``).

What a rank does: its handler only records the first signal (:class:`PreemptionFlag`). After every
optimizer step the ranks agree (one all-reduce) whether any of them got one; if so they save
``checkpoints/last.ckpt`` and stop with :class:`TrainingPreempted`, and ``python -m
dynaclr.training`` exits with :data:`EXIT_PREEMPTED`. So the save happens at the first step that
ends after the signal, wherever it landed (setup, a step, validation); a signal after the last
step has no step to save at and the run finishes as usual. The failed job is resubmitted by
Snakemake (``retries``) and resumes from ``last.ckpt``.

torchrun forwards only SIGTERM, SIGINT, SIGHUP and SIGQUIT to its workers by default (and dies on
SIGUSR1); :data:`TORCHRUN_SIGNAL_ARGS` makes it forward the preemption signals too and give the
workers :data:`TORCHRUN_SHUTDOWN_TIMEOUT_S` to save and exit before it kills them.

No Lightning import here: the workflow's Snakefile reads :data:`TORCHRUN_SIGNAL_ARGS`.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

logger = logging.getLogger(__name__)

#: Signals that make training save ``last.ckpt`` at the next step and exit.
PREEMPTION_SIGNALS = (signal.SIGUSR1, signal.SIGURG)
#: Exit status of ``python -m dynaclr.training`` after such a save (sysexits' EX_TEMPFAIL: retry).
EXIT_PREEMPTED = 75
#: Seconds torchrun waits for its workers to save and exit after forwarding a signal (SLURM's
#: warning comes 90 s before the kill).
TORCHRUN_SHUTDOWN_TIMEOUT_S = 80
#: torchrun options: forward the preemption signals (besides torchrun's defaults) to the workers.
TORCHRUN_SIGNAL_ARGS = (
    "--signals-to-handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT," + ",".join(s.name for s in PREEMPTION_SIGNALS),
    f"--shutdown-timeout={TORCHRUN_SHUTDOWN_TIMEOUT_S}",
)


class TrainingPreempted(Exception):
    """Training stopped on a preemption signal after saving a resumable checkpoint."""

    def __init__(self, signum: signal.Signals | None, checkpoint: str, global_step: int) -> None:
        cause = f"received {signum.name}" if signum else "another rank received a preemption signal"
        super().__init__(f"{cause}: saved {checkpoint} at global step {global_step}; a rerun resumes from it")
        self.signum = signum
        self.checkpoint = checkpoint
        self.global_step = global_step


class PreemptionFlag:
    """Records the first preemption signal this process receives (handlers do nothing else).

    :meth:`install` replaces the handlers of :data:`PREEMPTION_SIGNALS` (main thread only; elsewhere
    it does nothing and returns False); :meth:`restore` puts the previous ones back.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[signal.Signals, object] = {}

    def install(self) -> bool:
        if threading.current_thread() is not threading.main_thread():
            logger.warning("not the main thread: preemption signals are not handled")
            return False
        for signum in PREEMPTION_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._record)
        logger.info(
            "on %s: save checkpoints/last.ckpt at the next step and exit with status %d",
            "/".join(s.name for s in PREEMPTION_SIGNALS),
            EXIT_PREEMPTED,
        )
        return True

    def restore(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._previous.clear()

    def _record(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum)
