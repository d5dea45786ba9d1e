"""A throw-away single-node Slurm cluster (controller and node on 127.0.0.1).

It installs nothing: the Debian packages `slurm-wlm` and `munge` must be there, and it
must run as root (slurmd starts jobs as the submitting user). Everything Slurm writes
(configuration, state, spool, pid and log files) goes to one folder; the daemons use free
ports. Clients find the cluster through ``SLURM_CONF`` (use ``cluster.env`` for
subprocesses) and through a symbolic link /etc/slurm/slurm.conf -> our slurm.conf, made
only when that path is free and removed on stop: snakemake-executor-plugin-slurm-jobstep
(0.6.1) removes SLURM_CONF before the `srun` that runs each job, so inside a job only the
default path works. Hence one such cluster per machine, and none beside a system Slurm.

From Python (the pytest fixture in tests/workflow/test_slurm.py)::

    with SlurmCluster(folder) as cluster:
        subprocess.run(["sbatch", "--wrap", "hostname"], env=cluster.env)

From a shell, for trying the Slurm profile by hand::

    python tests/slurm_cluster.py start /tmp/slurm   # prints `export SLURM_CONF=...`
    python tests/slurm_cluster.py stop /tmp/slurm

munged is reused when one already answers (a system service); otherwise one is started
with the key /etc/munge/munge.key (created if missing) and stopped again afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "sbatch", "squeue", "scancel", "scontrol")
MUNGE_KEY = Path("/etc/munge/munge.key")
MUNGE_RUN_DIR = Path("/run/munge")
MUNGE_LOG = Path("/var/log/munge/munged.log")
MUNGE_SEED = Path("/var/lib/munge")
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "local"
STATE_FILE = "cluster.json"


class ClusterError(RuntimeError):
    """The cluster could not be started (the message carries the daemon logs)."""


def missing_binaries() -> list[str]:
    """Slurm and munge programs that are not on PATH (nothing missing: can run)."""
    return [name for name in (*DAEMONS, *CLIENTS) if shutil.which(name) is None]


def free_ports(count: int) -> list[int]:
    """Distinct ports nobody listens on now (all held open together, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def node_memory_mib(headroom_mib: int = 1024) -> int:
    """RealMemory for the node: a little under MemTotal, else slurmd drains the node."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total_mib = int(line.split()[1]) // 1024
            return max(256, total_mib - max(headroom_mib, total_mib // 10))
    raise ClusterError("no MemTotal line in /proc/meminfo")


def slurm_conf(
    root: Path, node: str, cpus: int, memory_mib: int, ctld_port: int, slurmd_port: int
) -> str:
    """slurm.conf text: one node, one default partition, no accounting, no cgroups."""
    return f"""\
# Single-node test cluster written by tests/slurm_cluster.py
ClusterName=attentivechrome
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# Trust this file over the detected hardware, so CPUs may be fewer than the machine has.
SlurmdParameters=config_overrides
# Finished jobs stay visible to squeue this long; the Snakemake profile's status checks
# rely on it because there is no accounting database for sacct.
MinJobAge=600
KillWait=5
# Jobs that name no memory (a bare `sbatch --wrap`) get 1 GiB per CPU, not the whole node.
DefMemPerCPU=1024
InactiveLimit=0
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mib} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"({path} not written)"
    return f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def munge_works(env: dict[str, str]) -> bool:
    """True when a munged answers on the default socket (encode then decode a credential)."""
    try:
        cred = subprocess.run(["munge", "-n"], capture_output=True, env=env, timeout=10)
        if cred.returncode != 0:
            return False
        check = subprocess.run(
            ["unmunge"], input=cred.stdout, capture_output=True, env=env, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return check.returncode == 0


def ensure_munge_key() -> None:
    """Create /etc/munge/munge.key (owned by munge, mode 0400) when the package left none."""
    if MUNGE_KEY.exists():
        return
    MUNGE_KEY.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mungekey", "--create", f"--keyfile={MUNGE_KEY}"], check=True)
    munge = pwd.getpwnam("munge")
    os.chown(MUNGE_KEY, munge.pw_uid, munge.pw_gid)
    MUNGE_KEY.chmod(0o400)


def wait_for(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs. A daemon of ours that has exited is reaped here: until then it
    is a zombie that kill(pid, 0) still finds (stopping waited 15 s per daemon for it)."""
    with contextlib.suppress(ChildProcessError):  # not our child: ask the kernel
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_pid(pid: int, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if the process is still there after `timeout` seconds."""
    if not pid_alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    if not wait_for(lambda: not pid_alive(pid), timeout, interval=0.2):
        os.kill(pid, signal.SIGKILL)
    # Reap our own children so they do not linger as zombies (others are not ours).
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class SlurmCluster:
    """Start with `start()` (or `with`), stop with `stop()`; `env` reaches the cluster."""

    def __init__(self, root: Path, cpus: int = 2, memory_mib: int | None = None):
        self.root = Path(root).resolve()
        self.node = socket.gethostname().split(".")[0]
        self.cpus = max(1, min(cpus, os.cpu_count() or 1))
        self.memory_mib = memory_mib or node_memory_mib()
        self.conf = self.root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self.pids: dict[str, int] = {}
        self.linked_default_conf = False

    # -- starting ------------------------------------------------------------------------
    def start(self, timeout: float = 60) -> SlurmCluster:
        missing = missing_binaries()
        if missing:
            raise ClusterError(f"not installed: {', '.join(missing)} (apt-get install slurm-wlm)")
        if os.geteuid() != 0:
            raise ClusterError("slurmd must run as root to start jobs; run this as root")
        for sub in ("state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            slurm_conf(self.root, self.node, self.cpus, self.memory_mib, *free_ports(2))
        )
        try:
            self._link_default_conf()
            self._start_munge()
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
            self._save_state()
            if not wait_for(self.node_idle, timeout):
                raise ClusterError(f"node {self.node} not idle after {timeout} s\n{self.logs()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _link_default_conf(self) -> None:
        if DEFAULT_CONF.is_symlink():
            other = Path(os.readlink(DEFAULT_CONF)).parent
            raise ClusterError(
                f"{DEFAULT_CONF} links to {other}: another test cluster runs (or crashed). "
                f"Stop it with `python tests/slurm_cluster.py stop {other}`."
            )
        if DEFAULT_CONF.exists():
            raise ClusterError(
                f"{DEFAULT_CONF} exists (a system Slurm?). Jobs started by the Snakemake Slurm "
                "plugin ignore SLURM_CONF, so this test cluster needs that path for itself."
            )
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)
        self.linked_default_conf = True

    def _unlink_default_conf(self) -> None:
        ours = DEFAULT_CONF.is_symlink() and Path(os.readlink(DEFAULT_CONF)) == self.conf
        if self.linked_default_conf and ours:
            DEFAULT_CONF.unlink()
        self.linked_default_conf = False

    def _start_munge(self) -> None:
        """munged as user munge, with the package's default socket, pid, log and seed paths.

        Those defaults are where slurm's auth/munge looks, and unlike a pytest temp folder
        (mode 0700, root's) the munge user can reach them.
        """
        if munge_works(self.env):
            return
        ensure_munge_key()
        munge = pwd.getpwnam("munge")
        # munged insists on owning its folders and refuses group/world-writable ones;
        # /run/munge is on a tmpfs, so after a reboot it is gone until the service runs.
        for folder, mode in (
            (MUNGE_RUN_DIR, 0o755),
            (MUNGE_LOG.parent, 0o700),
            (MUNGE_SEED, 0o711),
        ):
            if not folder.is_dir():
                folder.mkdir(parents=True)
                folder.chmod(mode)
            os.chown(folder, munge.pw_uid, munge.pw_gid)
        pid_file = MUNGE_RUN_DIR / "munged.pid"
        pid_file.unlink(missing_ok=True)
        started = subprocess.run(
            ["runuser", "-u", "munge", "--", "munged"], capture_output=True, text=True, timeout=30
        )
        if started.returncode != 0 or not wait_for(pid_file.exists, 10):
            raise ClusterError(f"munged did not start: {started.stderr}\n{log_tail(MUNGE_LOG)}")
        self.pids["munged"] = int(pid_file.read_text().split()[0])
        if not wait_for(lambda: munge_works(self.env), 10):
            raise ClusterError(f"munged does not answer\n{log_tail(MUNGE_LOG)}")

    def _spawn(self, name: str, command: list[str]) -> None:
        """Run a daemon in the foreground (-D) as our child, so we hold its real pid."""
        with (self.root / f"{name}.out").open("ab") as out:
            process = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pids[name] = process.pid
        time.sleep(0.5)
        if process.poll() is not None:
            raise ClusterError(f"{name} exited with {process.returncode}\n{self.logs()}")

    def node_idle(self) -> bool:
        result = subprocess.run(
            ["sinfo", "--noheader", "--nodes", self.node, "--format", "%t"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
        )
        return result.returncode == 0 and result.stdout.strip() == "idle"

    # -- stopping ------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel leftover jobs, then stop every daemon this object started (never others)."""
        if self.pids.get("slurmctld") and pid_alive(self.pids["slurmctld"]):
            self._cancel_jobs()
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is not None:
                stop_pid(pid)
        self._unlink_default_conf()
        state = self.root / STATE_FILE
        if state.exists():
            state.unlink()

    def _cancel_jobs(self, timeout: float = 20) -> None:
        """Jobs outlive slurmd (slurmstepd is detached): cancel them while Slurm still runs."""
        try:
            subprocess.run(
                ["scancel", "--partition", PARTITION],
                env=self.env,
                timeout=30,
                capture_output=True,
            )
            wait_for(lambda: not self.active_jobs(), timeout)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def _squeue(self, states: str, fields: str, check: bool = False) -> list[str]:
        """One `squeue` line per job in `states`, formatted as `fields`."""
        result = subprocess.run(
            ["squeue", "--noheader", "--states", states, "--format", fields],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=check,
        )
        return result.stdout.split()

    def active_jobs(self) -> list[str]:
        return self._squeue("PENDING,RUNNING,COMPLETING", "%i")

    # -- inspection ----------------------------------------------------------------------
    def job_states(self) -> dict[str, str]:
        """Slurm job id -> state, for every job the controller still remembers."""
        return dict(line.split("|", 1) for line in self._squeue("all", "%i|%T", check=True))

    def logs(self) -> str:
        names = ("slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out")
        return "\n".join([*(log_tail(self.root / name) for name in names), log_tail(MUNGE_LOG)])

    def _save_state(self) -> None:
        """Pids on disk, so `python tests/slurm_cluster.py stop` finds them later."""
        state = {"pids": self.pids, "linked_default_conf": self.linked_default_conf}
        (self.root / STATE_FILE).write_text(json.dumps(state))

    @classmethod
    def attach(cls, root: Path) -> SlurmCluster:
        cluster = cls(root)
        state = cluster.root / STATE_FILE
        if state.exists():
            saved = json.loads(state.read_text())
            cluster.pids = {name: int(pid) for name, pid in saved["pids"].items()}
            cluster.linked_default_conf = saved.get("linked_default_conf", False)
        return cluster

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("folder", type=Path, help="folder for slurm.conf, state and logs")
    parser.add_argument("--cpus", type=int, default=2)
    args = parser.parse_args(argv)
    if args.action == "stop":
        SlurmCluster.attach(args.folder).stop()
        return 0
    cluster = SlurmCluster(args.folder, cpus=args.cpus)
    try:
        cluster.start()
    except ClusterError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"export SLURM_CONF={cluster.conf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
