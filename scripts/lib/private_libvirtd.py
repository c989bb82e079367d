"""A private libvirtd (libvirt 9.0's own daemon) whose every path is under a
temp directory: session mode, run as an unprivileged user (default `nobody`)
when started as root. Used by scripts/bench-libvirt.py (the comparison side of
the benchmarks) and by the virt-install witness test.

With kvm=True (root only) the daemon runs in a mount namespace of its own in
which /dev/kvm is a node the daemon's user may open, so that its QEMU driver
probes a KVM host, as libvirt's system daemon would; the host's /dev/kvm is
not touched.
"""

import os
import pwd
import signal
import subprocess
import time

import libvirt


class Daemon:
    """A private libvirtd whose every path is under `tmp`."""

    def __init__(self, tmp, libvirtd="/usr/sbin/libvirtd", user="nobody", kvm=False):
        self.tmp, self.proc = tmp, None
        d = {k: os.path.join(tmp, k) for k in ("home", "run", "config", "cache")}
        as_root = os.geteuid() == 0
        pw = pwd.getpwnam(user) if as_root else None
        for path in d.values():
            os.mkdir(path, 0o700)
            if as_root:
                os.chown(path, pw.pw_uid, pw.pw_gid)
        os.chmod(tmp, 0o755)  # the unprivileged daemon must traverse it
        # Unprivileged libvirtd = session mode: socket in $XDG_RUNTIME_DIR/libvirt,
        # config/state in $XDG_CONFIG_HOME/libvirt, logs/cache in $XDG_CACHE_HOME.
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "HOME": d["home"],
               "XDG_RUNTIME_DIR": d["run"], "XDG_CONFIG_HOME": d["config"],
               "XDG_CACHE_HOME": d["cache"]}
        cmd = [libvirtd]  # no --timeout: stays up until we stop it
        if as_root:  # setpriv execs, so Popen's pid is libvirtd's own pid
            cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}",
                   "--clear-groups", "--"] + cmd
        if kvm:
            if not as_root:
                raise RuntimeError("a private libvirtd with KVM needs root (a mount namespace)")
            cmd = self._with_kvm(cmd, pw.pw_uid)
        self.socket = os.path.join(d["run"], "libvirt", "libvirt-sock")
        self.logfile = os.path.join(tmp, "libvirtd.log")
        with open(self.logfile, "wb") as out:
            self.proc = subprocess.Popen(cmd, env=env, cwd=d["home"], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.pid = self.proc.pid

    def _with_kvm(self, cmd, uid):
        """`cmd` run in a private mount namespace where /dev/kvm is a fresh
        node (same device numbers) owned by `uid`; every step execs, so the
        process is still libvirtd's own pid."""
        st = os.stat("/dev/kvm")
        dev = os.path.join(self.tmp, "dev")
        os.mkdir(dev, 0o700)
        node = os.path.join(dev, "kvm")
        script = (f"set -e; mount -t tmpfs -o mode=0755 tmpfs '{dev}'; "
                  f"mknod '{node}' c {os.major(st.st_rdev)} {os.minor(st.st_rdev)}; "
                  f"chown {uid} '{node}'; chmod 0600 '{node}'; "
                  f"mount --bind '{node}' /dev/kvm; exec \"$@\"")
        return ["unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", script, "sh"] + cmd

    def uri(self, driver):
        """The URI of one of the daemon's drivers (`test:///default`'s
        `test`, `qemu`), over its socket."""
        path = "/default" if driver == "test" else "/session"
        return f"{driver}+unix://{path}?socket={self.socket}"

    def connect(self, driver, timeout):
        """Wait for the socket, check the pid really is libvirtd, open a connection."""
        deadline, last_err = time.monotonic() + timeout, "socket never appeared"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"libvirtd exited with status {self.proc.returncode}")
            if os.path.exists(self.socket):
                try:
                    conn = libvirt.open(self.uri(driver))
                    exe = os.readlink(f"/proc/{self.pid}/exe")
                    if os.path.basename(exe) != "libvirtd":
                        raise RuntimeError(f"pid {self.pid} is {exe}, not libvirtd")
                    return conn
                except libvirt.libvirtError as e:
                    last_err = str(e)
            time.sleep(0.05)
        raise RuntimeError(f"libvirtd not reachable after {timeout}s: {last_err}")

    def log_tail(self, n=20):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:  # anything libvirtd itself spawned lives in the session we created
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
