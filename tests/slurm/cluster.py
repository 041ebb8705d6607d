"""Install, start and stop a real single-node SLURM cluster for tests.

Debian's ``slurm-wlm`` + ``munge`` packages, started by hand (no systemd), as recorded in
``shared/SLURM.md``. Plain module without pytest, so it also works from a script::

    with SlurmCluster() as cluster:
        subprocess.run(["sbatch", "--wait", "-p", cluster.partition, "job.sh"], env=cluster.env)

Only the daemons a :class:`SlurmCluster` started itself are stopped by :meth:`SlurmCluster.stop`;
a controller that is already running and answering ``sinfo`` is reused and left alone, unless it
was started by a SlurmCluster whose process has died (a crashed test run): those daemons are
stopped and the cluster is started afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SBIN = Path("/usr/sbin")
SERVER_BINARIES = ("slurmctld", "slurmd", "munged")
CLIENT_BINARIES = ("sinfo", "sbatch", "scontrol", "squeue", "scancel", "munge", "unmunge")
APT_PACKAGES = ("slurm-wlm", "munge")

CONF_MARKER = "# Written by dynaclr tests/slurm/cluster.py"

# Standard Debian locations; SLURM and munge expect these.
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_DIRS = (Path("/etc/munge"), Path("/run/munge"), Path("/var/log/munge"), Path("/var/lib/munge"))
MUNGE_PID_FILE = Path("/run/munge/munged.pid")
MUNGE_SOCKET = Path("/run/munge/munge.socket.2")
MUNGE_LOG = Path("/var/log/munge/munged.log")
LOCK_FILE = Path("/run/dynaclr-slurm-cluster.lock")
# Which daemons a SlurmCluster started, and for which process: lets a later run stop daemons
# orphaned by a crashed (e.g. SIGKILLed) test session instead of reusing their stale cluster.
OWNER_FILE = Path("/run/dynaclr-slurm-cluster.json")


class SlurmClusterError(RuntimeError):
    """The cluster could not be installed, started or stopped."""


# --------------------------------------------------------------------------- helpers


def _tail(text: str | bytes | None, lines: int = 20) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _run(
    cmd: list[str],
    *,
    timeout: float = 30,
    check: bool = True,
    env: dict[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure raise :class:`SlurmClusterError` with the stderr tail."""
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, input=input, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmClusterError(
            f"`{' '.join(cmd)}` timed out after {timeout:.0f} s\n"
            f"stdout tail:\n{_tail(exc.stdout)}\nstderr tail:\n{_tail(exc.stderr)}"
        ) from exc
    except FileNotFoundError as exc:
        raise SlurmClusterError(f"`{cmd[0]}` not found: {exc}") from exc
    if check and proc.returncode != 0:
        raise SlurmClusterError(
            f"`{' '.join(cmd)}` failed with exit status {proc.returncode}\n"
            f"stdout tail:\n{_tail(proc.stdout)}\nstderr tail:\n{_tail(proc.stderr)}"
        )
    return proc


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidate = SBIN / name
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def missing_binaries() -> list[str]:
    return [name for name in SERVER_BINARIES + CLIENT_BINARIES if _binary(name) is None]


def _processes_named(name: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command name is exactly ``name``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if _comm(pid) == name and _alive(pid):
            pids.append(pid)
    return sorted(pids)


def _comm(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _start_time(pid: int) -> int | None:
    """Process start time in clock ticks since boot (tells a pid apart from a reused one)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[-1].split()[19])


def _same_process(pid: int, start_time: int | None, name: str | None = None) -> bool:
    return _alive(pid) and _start_time(pid) == start_time and (name is None or _comm(pid) == name)


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (daemons are not our children)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # Field 3, after the parenthesised command name.
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _wait_for(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _file_tail(path: Path, offset: int = 0, lines: int = 30) -> str:
    try:
        with path.open("rb") as fh:
            fh.seek(offset if offset <= path.stat().st_size else 0)
            return _tail(fh.read(), lines)
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"


def _chown(path: Path, user: str) -> None:
    shutil.chown(path, user=user, group=user)


# --------------------------------------------------------------------------- install


def can_start_cluster() -> tuple[bool, str]:
    """Whether a real cluster can be started here, and why not otherwise."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False, "not running as root (starting slurmctld/slurmd/munged needs root)"
    missing = missing_binaries()
    if not missing:
        return True, "SLURM and munge are installed"
    if shutil.which("apt-get") is None:
        return False, f"missing {', '.join(missing)} and no apt-get to install slurm-wlm and munge"
    return True, f"missing {', '.join(missing)}; will install {' '.join(APT_PACKAGES)} with apt-get"


def ensure_installed(timeout: float = 900) -> bool:
    """``apt-get install`` SLURM and munge when their binaries are missing.

    Returns True when something was installed. ``apt-get update`` runs only when the first
    install attempt fails (package lists absent or stale).
    """
    missing = missing_binaries()
    if not missing:
        return False
    if shutil.which("apt-get") is None:
        raise SlurmClusterError(f"missing {', '.join(missing)} and apt-get is not available")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", *APT_PACKAGES]
    first = _run(install, timeout=timeout, check=False, env=env)
    if first.returncode != 0:
        _run(["apt-get", "update"], timeout=timeout, env=env)
        second = _run(install, timeout=timeout, check=False, env=env)
        if second.returncode != 0:
            raise SlurmClusterError(
                f"`{' '.join(install)}` failed (also after apt-get update), exit status "
                f"{second.returncode}\nstderr tail:\n{_tail(second.stderr)}\n"
                f"first attempt stderr tail:\n{_tail(first.stderr)}"
            )
    still_missing = missing_binaries()
    if still_missing:
        raise SlurmClusterError(f"installed {' '.join(APT_PACKAGES)} but still missing {still_missing}")
    return True


# --------------------------------------------------------------------------- cluster


@dataclass
class _Started:
    name: str
    proc: subprocess.Popen[bytes]
    pid_file: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class SlurmCluster:
    """A single-node SLURM cluster (controller + compute daemon + munge) on this machine.

    ``start()`` reuses a controller that already answers ``sinfo``; otherwise it writes
    ``/etc/slurm/slurm.conf``, wipes the controller's saved state and starts the daemons.
    ``stop()`` cancels the jobs of a controller it started and kills only its own daemons.
    """

    partition: str = "debug"
    conf_dir: Path = Path("/etc/slurm")
    log_dir: Path = Path("/var/log/slurm")
    state_dir: Path = Path("/var/spool/slurmctld")
    slurmd_spool_dir: Path = Path("/var/spool/slurmd")
    run_dir: Path = Path("/run")
    idle_timeout: float = 30.0
    # Credential lifetime; SLURM also makes a requeued job wait this long before it is eligible
    # again (default 120 s). 5 s is the smallest value SLURM 22.05 accepts.
    cred_expire: int = 5
    # Kept >= 120 s: Snakemake's SLURM plugin polls `squeue`, which forgets finished jobs after it.
    min_job_age: int = 300
    node_name: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    reused: bool = field(default=False, init=False)
    install_seconds: float = field(default=0.0, init=False)
    startup_seconds: float = field(default=0.0, init=False)
    _conf_override: Path | None = field(default=None, init=False, repr=False)
    _started: list[_Started] = field(default_factory=list, init=False, repr=False)
    _log_offsets: dict[Path, int] = field(default_factory=dict, init=False, repr=False)

    # -- paths

    @property
    def conf_path(self) -> Path:
        """The configuration clients should read (a reused cluster keeps its ``$SLURM_CONF``)."""
        return self._conf_override or self.conf_dir / "slurm.conf"

    @property
    def slurmctld_log(self) -> Path:
        return self.log_dir / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.log_dir / "slurmd.log"

    @property
    def slurmctld_pid_file(self) -> Path:
        return self.run_dir / "slurmctld.pid"

    @property
    def slurmd_pid_file(self) -> Path:
        return self.run_dir / "slurmd.pid"

    @property
    def started_daemons(self) -> dict[str, int]:
        """Daemons this object started: name -> pid."""
        return {s.name: s.pid for s in self._started}

    @property
    def env(self) -> dict[str, str]:
        """``os.environ`` pointing SLURM clients at this cluster's configuration."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        env["SLURM_CONF"] = str(self.conf_path)
        return env

    # -- context manager

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- public API

    def start(self) -> SlurmCluster:
        ok, why = can_start_cluster()
        if not ok:
            raise SlurmClusterError(f"cannot start a SLURM cluster: {why}")
        t0 = time.monotonic()
        if ensure_installed():
            self.install_seconds = time.monotonic() - t0
        t1 = time.monotonic()
        try:
            with self._lock():
                _stop_orphans()
                self._start_munge()
                self._start_slurm()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t1
        return self

    def stop(self) -> None:
        """Cancel jobs of a controller we started, then stop only the daemons we started."""
        if not self._started:
            return
        with self._lock():
            if "slurmctld" in self.started_daemons:
                self._cancel_all_jobs()
            errors = []
            for daemon in reversed(self._started):
                try:
                    self._kill(daemon)
                except SlurmClusterError as exc:
                    errors.append(str(exc))
            self._started.clear()
            OWNER_FILE.unlink(missing_ok=True)
        if errors:
            raise SlurmClusterError("\n".join(errors))

    def sinfo_states(self) -> list[str]:
        proc = _run(["sinfo", "-h", "-p", self.partition, "-o", "%t"], env=self.env, check=False, timeout=15)
        return proc.stdout.split() if proc.returncode == 0 else []

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for path in (self.slurmctld_log, self.slurmd_log, MUNGE_LOG):
            parts.append(f"--- {path} ---\n{_file_tail(path, self._log_offsets.get(path, 0), lines)}")
        return "\n".join(parts)

    # -- munge

    def _munge_works(self) -> bool:
        enc = _run(["munge", "-n"], check=False, timeout=10)
        if enc.returncode != 0:
            return False
        dec = _run(["unmunge"], check=False, timeout=10, input=enc.stdout)
        return dec.returncode == 0

    def _start_munge(self) -> None:
        for d in MUNGE_DIRS:
            d.mkdir(parents=True, exist_ok=True)
            _chown(d, "munge")
        Path("/etc/munge").chmod(0o700)
        if not MUNGE_KEY.exists():
            MUNGE_KEY.write_bytes(os.urandom(1024))
            _chown(MUNGE_KEY, "munge")
            MUNGE_KEY.chmod(0o400)
        if _processes_named("munged"):
            if not _wait_for(self._munge_works, 10):
                raise SlurmClusterError("a munged is already running but `munge -n | unmunge` fails")
            return
        # Nothing running: anything left in /run/munge is stale.
        for stale in (MUNGE_PID_FILE, MUNGE_SOCKET, Path(f"{MUNGE_SOCKET}.lock")):
            stale.unlink(missing_ok=True)
        self._offset(MUNGE_LOG)
        self._launch("munged", ["--foreground", "--force"], MUNGE_PID_FILE, MUNGE_LOG, user="munge")
        if not _wait_for(self._munge_works, 10):
            raise SlurmClusterError(f"munged started but `munge -n | unmunge` fails\n{self.log_tails()}")

    # -- slurm

    def _sinfo_works(self) -> bool:
        return _run(["sinfo", "-h"], env=self.env, check=False, timeout=15).returncode == 0

    def _start_slurm(self) -> None:
        running_ctld = _processes_named("slurmctld")
        if running_ctld:
            if os.environ.get("SLURM_CONF"):
                self._conf_override = Path(os.environ["SLURM_CONF"])
            if not _wait_for(self._sinfo_works, 10, interval=1):
                raise SlurmClusterError(
                    f"a slurmctld (pid {running_ctld}) is already running but `sinfo` fails; "
                    "not touching it. Stop it or fix it, then retry."
                )
            self.reused = True
            self._adopt_partition()
            self._wait_until_idle(accept=("idle", "mix"))
            return

        self._write_conf()
        for d in (self.log_dir, self.state_dir, self.slurmd_spool_dir):
            d.mkdir(parents=True, exist_ok=True)
        # We start the controller, so saved state (jobs, node states, job id counter) of an
        # earlier, possibly crashed, run is ours to throw away.
        _clear_dir(self.state_dir)
        self.slurmctld_pid_file.unlink(missing_ok=True)
        self._offset(self.slurmctld_log)
        self._launch(
            "slurmctld", ["-D", "-f", str(self.conf_path)], self.slurmctld_pid_file, self.slurmctld_log
        )
        if not _wait_for(self._sinfo_works, 15, interval=0.5):
            raise SlurmClusterError(f"slurmctld started but `sinfo` fails\n{self.log_tails()}")

        if not _processes_named("slurmd"):
            _clear_dir(self.slurmd_spool_dir)
            self.slurmd_pid_file.unlink(missing_ok=True)
            self._offset(self.slurmd_log)
            self._launch("slurmd", ["-D", "-f", str(self.conf_path)], self.slurmd_pid_file, self.slurmd_log)
        self._wait_until_idle(accept=("idle",))

    def _adopt_partition(self) -> None:
        """With a reused controller, use our partition if it exists, else its default one."""
        proc = _run(["sinfo", "-h", "-o", "%P"], env=self.env, timeout=15)
        names = proc.stdout.split()
        if self.partition in names or f"{self.partition}*" in names:
            return
        defaults = [n.rstrip("*") for n in names if n.endswith("*")]
        if not defaults:
            raise SlurmClusterError(
                f"reused SLURM controller has no partition {self.partition!r} and no default one: {names}"
            )
        self.partition = defaults[0]

    def _wait_until_idle(self, accept: tuple[str, ...]) -> None:
        states: list[str] = []

        def ready() -> bool:
            nonlocal states
            states = self.sinfo_states()
            return any(s in accept for s in states)

        if not _wait_for(ready, self.idle_timeout, interval=0.5):
            raise SlurmClusterError(
                f"node of partition {self.partition!r} not {'/'.join(accept)} after "
                f"{self.idle_timeout:.0f} s (sinfo states: {states})\n{self.log_tails()}"
            )

    def _write_conf(self) -> None:
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        if self.conf_path.exists() and CONF_MARKER not in self.conf_path.read_text(errors="replace"):
            backup = self.conf_path.with_name(f"slurm.conf.bak-{int(time.time())}")
            shutil.copy2(self.conf_path, backup)
        self.conf_path.write_text(self.render_conf())

    def render_conf(self) -> str:
        if self.cred_expire < 5:
            # slurmctld logs "AuthInfo=cred_expire=N invalid" and silently falls back to 120 s.
            raise SlurmClusterError(f"cred_expire must be >= 5 s for SLURM, got {self.cred_expire}")
        node = self.node_name
        try:
            socket.gethostbyname(node)
            ctld_host, node_addr = node, ""
        except OSError:  # hostname does not resolve: talk over loopback
            ctld_host, node_addr = f"{node}(127.0.0.1)", " NodeAddr=127.0.0.1"
        cpus = os.cpu_count() or 1
        mem_mib = _mem_total_mib()
        # Leave headroom so slurmd's measured memory is never below the configured value.
        real_mem = max(256, min(int(mem_mib * 0.9), mem_mib - 512))
        return "\n".join(
            [
                CONF_MARKER,
                "# Throwaway single-node test cluster; overwritten on every start.",
                "ClusterName=local",
                f"SlurmctldHost={ctld_host}",
                "SlurmUser=root",
                "SlurmdUser=root",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                # cred_expire also sets how long a requeued job waits before it is eligible again.
                f"AuthInfo=cred_expire={self.cred_expire}",
                f"StateSaveLocation={self.state_dir}",
                f"SlurmdSpoolDir={self.slurmd_spool_dir}",
                f"SlurmctldPidFile={self.slurmctld_pid_file}",
                f"SlurmdPidFile={self.slurmd_pid_file}",
                f"SlurmctldLogFile={self.slurmctld_log}",
                f"SlurmdLogFile={self.slurmd_log}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SchedulerType=sched/backfill",
                # Re-test pending jobs (e.g. requeued ones whose begin time passed) every few seconds.
                "SchedulerParameters=bf_interval=1,sched_interval=2",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "JobAcctGatherType=jobacct_gather/none",
                "AccountingStorageType=accounting_storage/none",
                "JobCompType=jobcomp/none",
                "MpiDefault=none",
                "ReturnToService=2",
                # Trust this file's node description even if slurmd measures the hardware differently.
                "SlurmdParameters=config_overrides",
                f"MinJobAge={self.min_job_age}",
                # State is wiped on every start; without this, job ids restart at 1 and can collide
                # with a job still running under a slurmstepd orphaned by a crashed run (the new job
                # then "finishes" at once and the old step's cleanup deletes its files).
                f"FirstJobId={_first_job_id()}",
                "KillWait=2",
                "InactiveLimit=0",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=60",
                f"DefMemPerCPU={max(1, real_mem // cpus)}",
                f"NodeName={node}{node_addr} CPUs={cpus} RealMemory={real_mem} State=UNKNOWN",
                f"PartitionName={self.partition} Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def _cancel_all_jobs(self) -> None:
        proc = _run(["squeue", "-h", "-o", "%i"], env=self.env, check=False, timeout=15)
        job_ids = proc.stdout.split() if proc.returncode == 0 else []
        if not job_ids:
            return
        _run(["scancel", *job_ids], env=self.env, check=False, timeout=15)

        def gone() -> bool:
            out = _run(["squeue", "-h", "-t", "all", "-o", "%T"], env=self.env, check=False, timeout=15)
            return out.returncode != 0 or not set(out.stdout.split()) - {"CANCELLED", "COMPLETED", "FAILED"}

        _wait_for(gone, 15, interval=0.5)

    # -- pid bookkeeping

    @contextlib.contextmanager
    def _lock(self):
        LOCK_FILE.parent.mkdir(parents=True, exist_ok=True)
        with LOCK_FILE.open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _offset(self, log: Path) -> None:
        try:
            self._log_offsets[log] = log.stat().st_size
        except OSError:
            self._log_offsets[log] = 0

    def _launch(self, name: str, args: list[str], pid_file: Path, log: Path, user: str | None = None) -> None:
        """Start a daemon in the foreground as our child (so it is reaped, not left a zombie) in
        its own session, and wait until its pid file names it."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out_path = self.log_dir / f"{name}.stdout"
        exe = _binary(name) or name
        with out_path.open("ab") as out:
            offset = out.tell()
            proc = subprocess.Popen(
                [exe, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                user=user,
                group=user,
                extra_groups=[] if user else None,
            )
        daemon = _Started(name, proc, pid_file)
        self._started.append(daemon)
        self._write_owner_file()

        def ready() -> bool:
            return proc.poll() is not None or _read_pid(pid_file) == proc.pid

        _wait_for(ready, 15)
        if proc.poll() is not None or _read_pid(pid_file) != proc.pid:
            raise SlurmClusterError(
                f"{name} did not come up (exit status {proc.poll()}, pid file {pid_file}: "
                f"{_read_pid(pid_file)}, expected {proc.pid})\n"
                f"--- {out_path} ---\n{_file_tail(out_path, offset)}\n"
                f"--- {log} ---\n{_file_tail(log, self._log_offsets.get(log, 0))}"
            )

    def _write_owner_file(self) -> None:
        me = os.getpid()
        record = {
            "owner": {"pid": me, "start_time": _start_time(me)},
            "daemons": [
                {"name": d.name, "pid": d.pid, "start_time": _start_time(d.pid)} for d in self._started
            ],
        }
        OWNER_FILE.write_text(json.dumps(record))

    def _kill(self, daemon: _Started, timeout: float = 15) -> None:
        proc = daemon.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired as exc:
                    raise SlurmClusterError(
                        f"{daemon.name} (pid {proc.pid}) did not exit after SIGKILL"
                    ) from exc
        if _read_pid(daemon.pid_file) == proc.pid:
            daemon.pid_file.unlink(missing_ok=True)


def _stop_orphans() -> None:
    """Stop daemons that a SlurmCluster of a process that no longer exists started.

    Called with the lock held. Daemons of a live owner (another test session) are left alone.
    """
    try:
        record = json.loads(OWNER_FILE.read_text())
    except (OSError, ValueError):
        return
    owner = record.get("owner", {})
    if _same_process(owner.get("pid", -1), owner.get("start_time")):
        return
    for daemon in reversed(record.get("daemons", [])):
        pid, start, name = daemon["pid"], daemon["start_time"], daemon["name"]
        if not _same_process(pid, start, name):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not _wait_for(lambda pid=pid: not _alive(pid), 15):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            _wait_for(lambda pid=pid: not _alive(pid), 5)
    OWNER_FILE.unlink(missing_ok=True)


def _clear_dir(path: Path) -> None:
    if len(path.resolve().parts) < 3:  # e.g. "/" or "/var": never a spool directory
        raise SlurmClusterError(f"refusing to wipe {path}")
    for child in path.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _first_job_id() -> int:
    """Time-based (0.1 s ticks) first job id, so ids of consecutive runs do not overlap; it wraps
    every ~69 days below SLURM's default MaxJobId of 67043328."""
    return 1 + int(time.time() * 10) % 60_000_000


def _mem_total_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SlurmClusterError("no MemTotal in /proc/meminfo")
