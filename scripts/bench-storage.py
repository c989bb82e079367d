#!/usr/bin/python3
"""Storage benchmark: virtkitd's dir pools beside the floor and beside
libvirt 9.0's libvirtd, in one run, alternating side by side round by round.

  - vol-upload and vol-download of a file (1 GiB by default) into and out
    of a raw volume through virtkitd, with the release CLI, against `cat`
    of the same file to the same disk. Fair in syncing: virtkitd fsyncs an
    upload before it answers, so the floor's upload is `cat SRC > DST;
    sync DST`; a download is fsynced by neither. The source is in the page
    cache for both; `sync` (untimed) before every timed step.
  - vol-clone of that volume (raw, and a qcow2 copy of it) against a bare
    `qemu-img convert` of the same file to the same disk.
  - 100 vol-create-as of qcow2 volumes, and vol-list of a pool of 1,000
    volumes, against libvirtd's dir pool. Two kinds of client, the same on
    both sides: one connection (libvirt's Python bindings; one
    `virtkit shell` session over a pipe), and each side's own CLI per call
    (`virsh` and `virtkit`, a process per command). libvirt's vol-list is
    what virsh does for it: every volume's name and path.

Hermetic: in a mount namespace of its own, tmpfs hides libvirt's state
dirs (/run/libvirt, /var/lib/libvirt, /etc/libvirt …, as
scripts/bench-network.py does); libvirtd (qemu:///system as root) and
virtkitd (`--root DIR`) each run in a network namespace of their own; the
pools are directories under a temporary directory in /tmp, on the same
disk as the floor's files. Every process started is ended at the end.

Needs root, libvirt-daemon, libvirt-clients (virsh), python3-libvirt,
qemu-utils and release builds of virtkitd and virtkit. Run: scripts/bench
storage.

Usage: /usr/bin/python3 scripts/bench-storage.py [--size-mib 1024] [--rounds 3]
    [--create-rounds 3] [--list-rounds 10] [--virtkitd target/release/virtkitd]
    [--virtkit target/release/virtkit]
"""
import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # nothing of the loaded bench-network.py left in scripts/
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
_spec = importlib.util.spec_from_file_location("bench_network", os.path.join(REPO, "scripts", "bench-network.py"))
bn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bn)
sh, Netns, Shell = bn.sh, bn.Netns, bn.Shell
CREATES, LISTED = 100, 1000


def log(msg):
    print(f"bench-storage: {msg}", file=sys.stderr, flush=True)


def timed(*cmd):
    """Seconds a command took (it must succeed)."""
    os.sync()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return t


def pool_xml(name, path):
    return f"<pool type='dir'><name>{name}</name><target><path>{path}</path></target></pool>"


class Libvirt:
    name = "libvirt"

    def __init__(self, tmp):
        import libvirt
        self.lv = libvirt
        libvirt.registerErrorHandler(lambda c, e: None, None)
        self.daemon = Netns(["/usr/sbin/libvirtd"], "/var/log/libvirt/libvirtd.log")
        self.conn = None
        deadline = time.monotonic() + 60
        while self.conn is None:
            if self.daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"libvirtd did not answer:\n{self.daemon.log_tail()}")
            if os.path.exists("/run/libvirt/libvirt-sock"):
                try:
                    self.conn = libvirt.open("qemu:///system")
                except libvirt.libvirtError:
                    pass
            time.sleep(0.05)
        v = self.conn.getLibVersion()
        self.version = f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}"
        self.dir = os.path.join(tmp, "lv-pool")
        self.pool = self.conn.storagePoolDefineXML(pool_xml("lvpool", self.dir))
        self.pool.build(0)
        self.pool.create(0)

    def create_one(self, name):
        self.pool.createXML(f"<volume><name>{name}</name><capacity unit='G'>1</capacity>"
                            "<target><format type='qcow2'/></target></volume>", 0)

    def create_cli(self, name):
        sh("virsh", "-q", "-c", "qemu:///system", "vol-create-as", "lvpool", name, "1G", "--format", "qcow2")

    def delete(self, names):
        for n in names:
            self.pool.storageVolLookupByName(n).delete(0)

    def refresh(self):
        self.pool.refresh(0)

    def list_one(self):
        vols = [(v.name(), v.path()) for v in self.pool.listAllVolumes(0)]
        return len(vols)

    def list_cli(self):
        out = sh("virsh", "-q", "-c", "qemu:///system", "vol-list", "lvpool").stdout
        return len([l for l in out.splitlines() if l.strip()])

    def close(self):
        try:
            if self.conn is not None:
                self.pool.destroy()
                self.pool.undefine()
        except Exception:  # noqa: BLE001 - the daemon may be gone already
            pass
        self.daemon.stop()


class Virtkit:
    name = "virtkit"

    def __init__(self, tmp, virtkitd, virtkit):
        self.root = os.path.join(tmp, "virtkitd")
        os.mkdir(self.root, 0o755)
        self.virtkit = virtkit
        self.daemon = Netns([virtkitd, "--root", self.root, "--default-network", "no"],
                            os.path.join(tmp, "virtkitd.out"))
        self.shell = None
        sock, deadline = os.path.join(self.root, "virtkit-sock"), time.monotonic() + 60
        while not os.path.exists(sock):
            if self.daemon.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"virtkitd did not answer:\n{self.daemon.log_tail()}")
            time.sleep(0.05)
        self.uri = f"qemu+unix:///system?socket={sock}"
        self.shell = Shell(virtkit, self.uri)
        self.version = sh(virtkit, "version").stdout.split("\n")[0].replace("virtkit ", "")
        self.dir = os.path.join(tmp, "vk-pool")
        self.cli("pool-define-as", "vkpool", "dir", "--target", self.dir)
        self.cli("pool-build", "vkpool")
        self.cli("pool-start", "vkpool")

    def cli(self, *args):
        return sh(self.virtkit, "-c", self.uri, *args).stdout

    def create_one(self, name):
        self.shell.call(f"vol-create-as vkpool {name} 1G --format qcow2")

    def create_cli(self, name):
        self.cli("vol-create-as", "vkpool", name, "1G", "--format", "qcow2")

    def delete(self, names):
        for n in names:
            self.shell.call(f"vol-delete {n} --pool vkpool")

    def refresh(self):
        self.cli("pool-refresh", "vkpool")

    def list_one(self):
        _, out = self.shell.call("vol-list vkpool")
        return len(out) - 2  # the heading and its rule

    def list_cli(self):
        return len(self.cli("vol-list", "vkpool").splitlines()) - 2

    def close(self):
        if self.shell is not None:
            self.shell.close()
        self.daemon.stop()


def make_data(path, mib):
    block = os.urandom(1 << 20)
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(block)
    sh("sh", "-c", 'cat "$1" > /dev/null', "sh", path)  # in the page cache for every reader after


def transfers(vk, tmp, src, mib, rounds, res):
    """Upload and download through virtkitd against cat to the same disk."""
    vk.cli("vol-create-as", "vkpool", "data.img", f"{mib}M", "--format", "raw")
    vol, dst, out = os.path.join(vk.dir, "data.img"), os.path.join(tmp, "floor.bin"), os.path.join(tmp, "out.bin")
    for r in range(rounds):
        for side in ("virtkit", "floor") if r % 2 == 0 else ("floor", "virtkit"):
            for p in (dst, out):
                if os.path.exists(p):
                    os.unlink(p)
            if side == "virtkit":
                up = timed(vk.virtkit, "-c", vk.uri, "vol-upload", "data.img", src, "--pool", "vkpool")
                down = timed(vk.virtkit, "-c", vk.uri, "vol-download", "data.img", out, "--pool", "vkpool")
            else:
                up = timed("sh", "-c", 'cat "$1" > "$2" && sync "$2"', "sh", src, dst)
                down = timed("sh", "-c", 'cat "$1" > "$2"', "sh", vol, out)
            res.setdefault(f"upload {side}", []).append(mib / up)
            res.setdefault(f"download {side}", []).append(mib / down)
    if sh("cmp", src, vol, check=False).returncode != 0 or sh("cmp", src, out, check=False).returncode != 0:
        raise RuntimeError("the volume or the download is not the file uploaded")
    for p in (dst, out):
        if os.path.exists(p):
            os.unlink(p)


def clones(vk, tmp, rounds, res):
    """vol-clone against qemu-img convert of the same file, raw and qcow2."""
    raw = os.path.join(vk.dir, "data.img")
    sh("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, os.path.join(vk.dir, "data.qcow2"))
    vk.refresh()
    for fmt, name in (("raw", "data.img"), ("qcow2", "data.qcow2")):
        src, dst = os.path.join(vk.dir, name), os.path.join(tmp, f"floor.{fmt}")
        for r in range(rounds):
            for side in ("virtkit", "floor") if r % 2 == 0 else ("floor", "virtkit"):
                if side == "virtkit":
                    t = timed(vk.virtkit, "-c", vk.uri, "vol-clone", name, f"copy.{fmt}", "--pool", "vkpool")
                    vk.cli("vol-delete", f"copy.{fmt}", "--pool", "vkpool")
                else:
                    t = timed("qemu-img", "convert", "-f", fmt, "-O", fmt, src, dst)
                    os.unlink(dst)
                res.setdefault(f"clone {fmt} {side}", []).append(t)
    vk.cli("vol-delete", "data.qcow2", "--pool", "vkpool")


def creates(sides, rounds, res):
    """100 qcow2 volumes, made through one connection and with each side's
    CLI per call; each round's volumes are deleted (untimed) after it."""
    for how in ("one connection", "CLI per call"):
        for r in range(rounds):
            for side in sides if r % 2 == 0 else sides[::-1]:
                names = [f"c{r}-{i:03}.qcow2" for i in range(CREATES)]
                make = side.create_one if how == "one connection" else side.create_cli
                t0 = time.perf_counter()
                for n in names:
                    make(n)
                res.setdefault(f"create {how} {side.name}", []).append(time.perf_counter() - t0)
                side.delete(names)


def lists(sides, tmp, rounds, res):
    """vol-list of a pool of 1,000 qcow2 volumes (copies of one image)."""
    one = os.path.join(tmp, "one.qcow2")
    sh("qemu-img", "create", "-q", "-f", "qcow2", one, "1G")
    for side in sides:
        for i in range(LISTED):
            shutil.copyfile(one, os.path.join(side.dir, f"l-{i:04}.qcow2"))
        side.refresh()
    for how in ("one connection", "CLI per call"):
        for r in range(rounds):
            for side in sides if r % 2 == 0 else sides[::-1]:
                f = side.list_one if how == "one connection" else side.list_cli
                t0 = time.perf_counter()
                n = f()
                res.setdefault(f"list {how} {side.name}", []).append(time.perf_counter() - t0)
                if n < LISTED:
                    raise RuntimeError(f"{side.name} listed {n} volumes, not {LISTED}")


def fmt_t(s):
    return f"{s * 1000:.1f} ms" if s < 10 else f"{s:.2f} s"


def report(res, env, mib):
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"\nstorage benchmark: medians (rounds alternate the two sides)")
    for k, v in env.items():
        print(f"  {k}: {v}")
    print(f"\n{'':<34}{'virtkit':>14}{'floor':>14}{'ratio':>9}  target")
    for what in ("upload", "download"):
        v, f = med.get(f"{what} virtkit"), med.get(f"{what} floor")
        if v and f:
            print(f"{what + f' {mib} MiB (MiB/s)':<34}{v:>14.0f}{f:>14.0f}{v / f:>8.2f}x  >= 0.8x of cat")
    for fmt in ("raw", "qcow2"):
        v, f = med.get(f"clone {fmt} virtkit"), med.get(f"clone {fmt} floor")
        if v and f:
            print(f"{f'vol-clone {fmt} {mib} MiB':<34}{fmt_t(v):>14}{fmt_t(f):>14}{v / f:>8.2f}x  <= 1.1x of qemu-img convert")
    print(f"\n{'':<34}{'virtkit':>14}{'libvirt':>14}{'ratio':>9}  target")
    for what, label in (("create", f"{CREATES} vol-create-as qcow2"), ("list", f"vol-list of {LISTED}")):
        for how in ("one connection", "CLI per call"):
            v, lv = med.get(f"{what} {how} virtkit"), med.get(f"{what} {how} libvirt")
            if v and lv:
                print(f"{label + ', ' + how:<34}{fmt_t(v):>14}{fmt_t(lv):>14}{lv / v:>8.1f}x  >= 3x faster")
    print("\nratios: throughput virtkit/floor; clone time virtkit/floor; libvirt time / virtkit time")
    # Every round, so that a reader sees the spread behind each median (on
    # a shared machine a 1 GiB write into the page cache now and then takes
    # several times as long, in the kernel, on either side).
    print("\nevery round, in the order run:")
    for k, v in res.items():
        if k.startswith(("upload", "download")):
            print(f"  {k}: {' '.join(f'{x:.0f}' for x in v)} MiB/s")
        elif k.startswith("clone"):
            print(f"  {k}: {' '.join(fmt_t(x) for x in v)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--create-rounds", type=int, default=3)
    ap.add_argument("--list-rounds", type=int, default=10)
    ap.add_argument("--virtkitd", default=os.path.join(REPO, "target/release/virtkitd"))
    ap.add_argument("--virtkit", default=os.path.join(REPO, "target/release/virtkit"))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench-storage: needs root (namespaces, libvirt's system daemon)")
    if os.environ.get("BENCH_STORAGE_NS") != "1":
        os.environ["BENCH_STORAGE_NS"] = "1"
        os.execvp("unshare", ["unshare", "--mount", "--propagation", "private", "--",
                              sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    tmp = tempfile.mkdtemp(prefix="bench-storage.", dir="/tmp")
    os.chmod(tmp, 0o755)
    sides, mounts, res = [], [], {}
    load0 = os.getloadavg()[0]
    try:
        bn.private_dirs(tmp, mounts)
        log("starting libvirtd (system daemon, root, own network namespace)")
        sides.append(Libvirt(tmp))
        log("starting virtkitd (qemu:///system, own network namespace)")
        sides.append(Virtkit(tmp, args.virtkitd, args.virtkit))
        vk = sides[1]
        src = os.path.join(tmp, "data.bin")
        log(f"{args.size_mib} MiB of data; {args.rounds} rounds of upload and download, then clones")
        make_data(src, args.size_mib)
        transfers(vk, tmp, src, args.size_mib, args.rounds, res)
        os.unlink(src)
        clones(vk, tmp, args.rounds, res)
        vk.cli("vol-delete", "data.img", "--pool", "vkpool")
        log(f"{args.create_rounds} rounds of {CREATES} creates on each side, each client")
        creates(sides, args.create_rounds, res)
        log(f"{LISTED} volumes in each pool; {args.list_rounds} rounds of vol-list")
        lists(sides, tmp, args.list_rounds, res)
        qemu = sh("qemu-img", "--version").stdout.split("\n")[0]
        env = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{os.cpu_count()} cores, load average {load0:.2f} at the start, "
                          f"{os.getloadavg()[0]:.2f} at the end; pools and floor files on "
                          f"{sh('findmnt', '-no', 'FSTYPE', '-T', tmp).stdout.strip()} ({tmp})",
               "qemu-img": qemu}
        for s in sides:
            env[s.name] = f"{s.version}, qemu:///system as root, dir pool"
        report(res, env, args.size_mib)
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
