#!/usr/bin/python3
"""Network benchmark: virtkitd's Linux network driver beside libvirt 9.0's,
on the same NAT network with DHCP, alternating round by round in one run.

  - net-start and net-destroy of the network (bridge, firewall, dnsmasq),
    each timed; median and best of each side and the ratio libvirt/virtkit;
  - from a guest's start call to its DHCP lease showing in the network's
    leases (the test guest under QEMU TCG, a new MAC each round).

Hermetic: the whole run is in a mount namespace of its own, where tmpfs
hides /run/libvirt, /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt
and /etc/libvirt (a missing directory is made in an overlay of its parent,
never on the host). libvirtd (run as root, the system daemon
qemu:///system, so it makes real bridges and iptables rules) and virtkitd
(`--root DIR`, qemu:///system) each run in a network namespace of their
own with only lo; nothing touches the host's network. Every process in
those namespaces is the bench's own and is ended when it leaves.

libvirt is driven with its Python bindings (one connection), virtkit with
one `virtkit shell` session over a pipe (one connection): neither side pays
a process start per call.

Needs root, libvirt-daemon, python3-libvirt, iptables, ebtables,
dnsmasq-base, qemu-system-x86, the test guest (scripts/build-test-guest)
and release builds of virtkitd and virtkit. Run: scripts/bench network.

Usage: /usr/bin/python3 scripts/bench-network.py [--rounds 20] [--guest-rounds 5]
    [--virtkitd target/release/virtkitd] [--virtkit target/release/virtkit]
    [--only libvirt|virtkit]
"""
import argparse
import os
import queue
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
PRIVATE = ["/run/libvirt", "/var/lib/libvirt", "/var/cache/libvirt", "/var/log/libvirt", "/etc/libvirt"]
BRIDGE = "vkbr0"
LEASE, READY, SAID = "guest start to lease", "  to console: booted", "  to console: got address"
NETWORK = ("<network><name>lan</name><forward mode='nat'/><bridge name='vkbr0'/>"
           "<ip address='192.168.150.1' netmask='255.255.255.0'><dhcp>"
           "<range start='192.168.150.10' end='192.168.150.20'/></dhcp></ip></network>")
# libvirt's system daemon as root, in a container: QEMU runs as root, no
# security driver, cgroups, per-domain /dev or virtlogd.
QEMU_CONF = """user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""
LIBVIRTD_CONF = 'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'


def log(msg):
    print(f"bench-network: {msg}", file=sys.stderr, flush=True)


def sh(*cmd, check=True):
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r


def overlay(tmp, path, mounts):
    """A writable view of `path` whose changes land under tmp."""
    ov = tempfile.mkdtemp(prefix="overlay.", dir=tmp)
    up, work = os.path.join(ov, "upper"), os.path.join(ov, "work")
    os.makedirs(up)
    os.makedirs(work)
    sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={path},upperdir={up},workdir={work}", path)
    mounts.append(path)


def private_dirs(tmp, mounts):
    """tmpfs over each of PRIVATE, in this (private) mount namespace, over
    a writable view (overlay) of each one's parent, so that a directory the
    host lacks is made in the view, and the users libvirt's system daemon
    resolves at start (libvirt-qemu, libvirt-dnsmasq) are added there when
    the host lacks them. Each mount made goes on `mounts`."""
    for parent in sorted({os.path.dirname(p) for p in PRIVATE}):
        overlay(tmp, parent, mounts)
    for path in PRIVATE:
        os.makedirs(path, exist_ok=True)
        sh("mount", "-t", "tmpfs", "-o", "mode=0755", "tmpfs", path)
        mounts.append(path)
    with open("/etc/passwd") as f:
        users = {line.split(":")[0] for line in f}
    with open("/etc/group") as f:
        groups = {line.split(":")[0] for line in f}
    for i, name in enumerate(("kvm", "libvirt-qemu", "libvirt-dnsmasq")):
        if name not in groups:
            with open("/etc/group", "a") as f:
                f.write(f"{name}:x:{64050 + i}:\n")
    for i, name in enumerate(("libvirt-qemu", "libvirt-dnsmasq")):
        if name not in users:
            with open("/etc/passwd", "a") as f:
                f.write(f"{name}:x:{64051 + i}:{64051 + i}::/var/lib/libvirt:/usr/sbin/nologin\n")
    with open("/etc/libvirt/qemu.conf", "w") as f:
        f.write(QEMU_CONF)
    with open("/etc/libvirt/libvirtd.conf", "w") as f:
        f.write(LIBVIRTD_CONF)


class Netns:
    """A process started in a network namespace of its own (lo up)."""

    def __init__(self, argv, logfile, cwd="/"):
        self.logfile = logfile
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + argv,
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while self._ns() == os.readlink("/proc/self/ns/net"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} did not start in a network namespace")
            time.sleep(0.01)
        self.ns = self._ns()

    def _ns(self):
        return os.readlink(f"/proc/{self.pid}/ns/net")

    def run(self, *cmd, check=True):
        """A command inside the namespace (nsenter)."""
        return sh("nsenter", "-t", str(self.pid), "-n", "--", *cmd, check=check)

    def bridge(self):
        """The bridge's addresses, or None when it is not there."""
        r = self.run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE, check=False)
        if sh("nsenter", "-t", str(self.pid), "-n", "--", "ip", "link", "show", BRIDGE,
              check=False).returncode != 0:
            return None
        return r.stdout

    def log_tail(self, n=15):
        # libvirtd's start logs a screenful of ethtool probes of ifb devices
        lines = [l for l in tail(self.logfile, 200).splitlines() if "ethtool ioctl error" not in l]
        return "\n".join(lines[-n:])

    def stop(self):
        """Ends the process, then every process left in its namespace
        (dnsmasq, QEMU: all started by this bench)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in os.listdir("/proc"):
            if p.isdigit():
                try:
                    if os.readlink(f"/proc/{p}/ns/net") == self.ns:
                        os.kill(int(p), signal.SIGKILL)
                except OSError:
                    pass


# ---------------------------------------------------------------- libvirt

class Libvirt:
    name = "libvirt"

    def __init__(self, tmp):
        import libvirt
        self.lv = libvirt
        libvirt.registerErrorHandler(lambda c, e: None, None)
        self.daemon = Netns(["/usr/sbin/libvirtd"], "/var/log/libvirt/libvirtd.log")
        try:
            self._connect(libvirt)
        except BaseException:
            self.close()  # a daemon that came up half is not left behind
            raise

    def _connect(self, libvirt):
        sock, deadline, err = "/run/libvirt/libvirt-sock", time.monotonic() + 60, "no socket"
        self.conn = None
        while self.conn is None:
            if self.daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd did not answer ({err}):\n{self.daemon.log_tail()}")
            if os.path.exists(sock):
                try:
                    self.conn = libvirt.open("qemu:///system")
                except libvirt.libvirtError as e:
                    err = str(e)
            time.sleep(0.05)
        v = self.conn.getLibVersion()
        self.version = f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
        self.net = self.conn.networkDefineXML(NETWORK)

    def net_start(self):
        self.net.create()

    def net_destroy(self):
        self.net.destroy()

    def guest_define(self, xml):
        self.dom = self.conn.defineXML(xml)

    def guest_start(self):
        self.dom.create()

    def lease(self, mac):
        return bool(self.net.DHCPLeases(mac))

    def guest_stop(self):
        self.dom.destroy()
        self.dom.undefine()

    def close(self):
        try:
            if getattr(self, "net", None) is not None:
                if self.net.isActive():
                    self.net.destroy()
                self.net.undefine()
        except Exception:  # noqa: BLE001 - the daemon may be gone already
            pass
        if os.environ.get("BENCH_NETWORK_DEBUG"):
            log("libvirt's QEMU log:\n" + tail("/var/log/libvirt/qemu/bench-guest.log", 30))
        self.daemon.stop()


# ---------------------------------------------------------------- virtkit

class Shell:
    """One `virtkit shell` session: each call writes a line and reads what
    it printed up to a marker (the `uri` command's line)."""

    def __init__(self, virtkit, uri):
        self.proc = subprocess.Popen([virtkit, "-c", uri, "shell"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.lines, self.errors = queue.Queue(), []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.errors.append), daemon=True).start()
        self.proc.stdin.write("uri\n")
        self.marker = self._next(60)

    @staticmethod
    def _pump(stream, put):
        for line in stream:
            put(line.rstrip("\n"))
        put(None)

    def _next(self, timeout):
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise RuntimeError(f"virtkit shell ended: {' '.join(self.errors[-3:])}")
        return line

    def call(self, line, timeout=120):
        """Runs `line`; (time to its first line of output, its output).
        A command that printed nothing failed: its error is raised."""
        del self.errors[:]
        t0 = time.perf_counter()
        self.proc.stdin.write(f"{line}; uri\n")
        first, out = None, []
        while True:
            text = self._next(timeout)
            first = first or time.perf_counter() - t0
            if text == self.marker:
                break
            out.append(text)
        if not out:
            time.sleep(0.05)  # stderr comes on its own pipe
            raise RuntimeError(f"virtkit {line}: {' '.join(self.errors) or 'no output'}")
        return first, out

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class Virtkit:
    name = "virtkit"

    def __init__(self, tmp, virtkitd, virtkit):
        self.root = os.path.join(tmp, "virtkitd")
        os.mkdir(self.root, 0o755)  # dnsmasq, run as its own user, reads its files here
        self.daemon = Netns([virtkitd, "--root", self.root, "--default-network", "no"],
                            os.path.join(tmp, "virtkitd.out"))
        self.shell = None
        try:
            self._connect(virtkit)
        except BaseException:
            self.close()  # a daemon that came up half is not left behind
            raise

    def _connect(self, virtkit):
        sock, deadline = os.path.join(self.root, "virtkit-sock"), time.monotonic() + 60
        while not os.path.exists(sock):
            if self.daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"virtkitd did not answer:\n{self.daemon.log_tail()}")
            time.sleep(0.05)
        self.shell = Shell(virtkit, f"qemu+unix:///system?socket={sock}")
        self.version = sh(virtkit, "version").stdout.split("\n")[0].replace("virtkit ", "")
        path = os.path.join(self.root, "lan.xml")
        with open(path, "w") as f:
            f.write(NETWORK)
        self.shell.call(f"net-define {path}")

    def _timed(self, line, expect):
        t, out = self.shell.call(line)
        if not any(expect in o for o in out):
            raise RuntimeError(f"virtkit {line}: {' '.join(out)}")
        return t

    def net_start(self):
        return self._timed("net-start lan", "started")

    def net_destroy(self):
        return self._timed("net-destroy lan", "destroyed")

    def guest_define(self, xml):
        path = os.path.join(self.root, "guest.xml")
        with open(path, "w") as f:
            f.write(xml)
        self.shell.call(f"define {path}")

    def guest_start(self):
        self._timed("start bench-guest", "started")

    def lease(self, mac):
        _, out = self.shell.call(f"net-dhcp-leases lan --mac {mac}")
        return any(mac in o for o in out)

    def guest_stop(self):
        self.shell.call("destroy bench-guest; undefine bench-guest")

    def close(self):
        if self.shell is not None:
            for line in ("destroy bench-guest", "undefine bench-guest", "net-destroy lan", "net-undefine lan"):
                try:
                    self.shell.call(line, timeout=10)
                except (RuntimeError, queue.Empty, OSError):
                    pass
            self.shell.close()
        self.daemon.stop()


# ---------------------------------------------------------------- measuring

def timed(f):
    """Seconds `f` took; a side may give its own figure (virtkit: the time
    to the command's answer, without the shell's marker)."""
    t0 = time.perf_counter()
    own = f()
    return own if isinstance(own, float) else time.perf_counter() - t0


def check_bridge(side, up):
    addrs = side.daemon.bridge()
    if up and (addrs is None or "192.168.150.1/24" not in addrs):
        raise RuntimeError(f"{side.name}: after net-start {BRIDGE} is not up with 192.168.150.1/24")
    if not up and addrs is not None:
        raise RuntimeError(f"{side.name}: after net-destroy {BRIDGE} is still there")


def guest_xml(name, mac, console):
    g = os.path.join(REPO, "target", "test-guest")
    return (f"<domain type='qemu'><name>{name}</name><memory unit='MiB'>192</memory><vcpu>1</vcpu>"
            f"<os><type arch='x86_64' machine='pc'>hvm</type><kernel>{g}/vmlinuz</kernel>"
            f"<initrd>{g}/initrd.img</initrd><cmdline>console=ttyS0 quiet panic=0</cmdline></os>"
            f"<features><acpi/></features><devices>"
            f"<interface type='network'><mac address='{mac}'/><source network='lan'/>"
            f"<model type='virtio'/></interface>"
            f"<serial type='file'><source path='{console}'/></serial><memballoon model='none'/>"
            f"</devices></domain>")


def lease_time(side, mac, console, timeout=180):
    """From the start call to the lease in the network's leases (polled
    every 20 ms); also, polled alike, to the guest's console saying it
    booted (VIRTKIT-GUEST-READY) and what it got from DHCP (which tells a
    slow boot from a slow lease); and that line itself."""
    side.guest_define(guest_xml("bench-guest", mac, console))
    t0 = time.perf_counter()
    side.guest_start()
    marks = {}
    while len(marks) < 3:
        now = time.perf_counter() - t0
        if "lease" not in marks and side.lease(mac):
            marks["lease"] = now
        text = tail(console, 50)
        for key, word in (("ready", "VIRTKIT-GUEST-READY"), ("said", "VIRTKIT-GUEST-DHCP")):
            if key not in marks and word in text:
                marks[key] = now
        if now > timeout:
            raise RuntimeError(f"{side.name}: after {timeout}s, only {sorted(marks)} for {mac}; "
                               f"the guest's console:\n{text}")
        time.sleep(0.02)
    said = next(l[l.index("VIRTKIT-GUEST-DHCP"):].strip() for l in tail(console, 50).splitlines()
                if "VIRTKIT-GUEST-DHCP" in l)
    side.guest_stop()
    return marks, said


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return str(e)


def fmt_ms(s):
    return f"{s * 1000:9.1f}" if s < 10 else f"{s:8.2f}s"


def report(results, sides, rounds, guest_rounds, env):
    print()
    print(f"network benchmark: NAT network with DHCP ({BRIDGE}, 192.168.150.0/24), "
          f"{rounds} rounds of net-start + net-destroy, {guest_rounds} guest boots, "
          "libvirt and virtkit alternating round by round")
    for k, v in env.items():
        print(f"  {k}: {v}")
    names = [s.name for s in sides]
    head = "".join(f"{n + ' median':>16}{n + ' best':>14}" for n in names)
    ratio = len(sides) == 2
    print(f"\n{'(ms)':<28}{head}" + (f"{'ratio median':>15}{'ratio best':>12}" if ratio else ""))
    for what in ("net-start", "net-destroy", "start + destroy", LEASE, READY, SAID):
        row, med = f"{what:<28}", {}
        for n in names:
            v = results[n].get(what)
            if not v:
                row += f"{'-':>16}{'-':>14}"
                continue
            med[n] = (statistics.median(v), min(v))
            row += f"{fmt_ms(med[n][0]):>16}{fmt_ms(med[n][1]):>14}"
        if ratio and len(med) == 2:
            (lm, lb), (vm, vb) = med["libvirt"], med["virtkit"]
            row += f"{lm / vm:>14.1f}x{lb / vb:>11.1f}x"
        print(row)
    if ratio:
        print("\nratio = libvirt / virtkit (above 1: virtkit is faster); target: 3x for net-start and net-destroy")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--guest-rounds", type=int, default=5)
    ap.add_argument("--virtkitd", default=os.path.join(REPO, "target/release/virtkitd"))
    ap.add_argument("--virtkit", default=os.path.join(REPO, "target/release/virtkit"))
    ap.add_argument("--only", choices=["libvirt", "virtkit"])
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-network: needs root (bridges, firewall rules and namespaces)")
    if os.environ.get("BENCH_NETWORK_NS") != "1":
        # Into a mount namespace of our own, where the private dirs go.
        os.environ["BENCH_NETWORK_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    for f in ("vmlinuz", "initrd.img"):
        if args.guest_rounds and not os.path.isfile(os.path.join(REPO, "target/test-guest", f)):
            sys.exit("bench-network: no test guest in target/test-guest (scripts/build-test-guest)")
    tmp = tempfile.mkdtemp(prefix="bench-network.", dir="/tmp")
    os.chmod(tmp, 0o755)
    sides, mounts = [], []
    try:
        private_dirs(tmp, mounts)
        if args.only != "virtkit":
            log("starting libvirtd (system daemon, root, own network namespace)")
            sides.append(Libvirt(tmp))
        if args.only != "libvirt":
            log("starting virtkitd (qemu:///system, own network namespace)")
            sides.append(Virtkit(tmp, args.virtkitd, args.virtkit))
        results = {s.name: {} for s in sides}
        log(f"{args.rounds} rounds of net-start + net-destroy (and one untimed first)")
        for r in range(args.rounds + 1):
            for side in sides if r % 2 == 0 else sides[::-1]:
                up = timed(side.net_start)
                check_bridge(side, True)
                down = timed(side.net_destroy)
                check_bridge(side, False)
                if r == 0:
                    continue
                res = results[side.name]
                res.setdefault("net-start", []).append(up)
                res.setdefault("net-destroy", []).append(down)
                res.setdefault("start + destroy", []).append(up + down)
        if args.guest_rounds:
            log(f"{args.guest_rounds} guest boots on each side (QEMU TCG)")
            for side in sides:
                side.net_start()
            for r in range(args.guest_rounds):
                for i, side in enumerate(sides if r % 2 == 0 else sides[::-1]):
                    mac = f"52:54:00:00:{0x40 + r:02x}:{0x10 + i:02x}"
                    console = os.path.join(tmp, f"{side.name}-{r}.console")
                    marks, said = lease_time(side, mac, console)
                    log(f"  {side.name}: lease for {mac} after {marks['lease']:.2f}s (booted "
                        f"{marks['ready']:.2f}s, said {marks['said']:.2f}s): {said}")
                    for key, what in (("lease", LEASE), ("ready", READY), ("said", SAID)):
                        results[side.name].setdefault(what, []).append(marks[key])
        qemu = sh("qemu-system-x86_64", "--version").stdout.split("\n")[0]
        env = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end",
               "guest": f"test guest (target/test-guest), {qemu}, TCG (domain type 'qemu')"}
        for s in sides:
            env[s.name] = f"{s.version}, qemu:///system as root in its own network namespace"
        report(results, sides, args.rounds, args.guest_rounds, env)
    except Exception as e:
        log(f"failed: {e}")
        for s in sides:
            log(f"{s.name} daemon's last lines:\n{s.daemon.log_tail()}")
        raise SystemExit(1)
    finally:
        for s in sides:
            s.close()
        for m in reversed(mounts):
            sh("umount", "-l", m, check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
