"""Writes the documents the virt-install witness test checks: Debian's
virt-install (virtinst 4.1) `--print-xml` for every invocation in
invocations.txt, against libvirt 9.0's own daemon (a private libvirtd whose
QEMU driver probes this host's QEMU and a KVM it may open: see
scripts/lib/private_libvirtd.py), presented to virt-install as a system
connection (`qemu:///system`), as on a user's host.

usage: write_documents.py INVOCATIONS OUTDIR
Writes OUTDIR/NAME.xml (NAME.1.xml, NAME.2.xml where virt-install has an
install step and a boot step), creating disk images under OUTDIR/images
as virt-install does (through libvirt's storage). Exit status 1 naming the
invocation if virt-install fails.
Each invocation's images and media are in OUTDIR/images/NAME (@IMG@).
"""

import concurrent.futures
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "..", "scripts", "lib"))
from private_libvirtd import Daemon  # noqa: E402


def invocations(path):
    for line in open(path):
        line = line.strip()
        if line and not line.startswith("#"):
            name, args = line.split(None, 1)
            yield name, args.split()


def main():
    inv_path, out = sys.argv[1], os.path.abspath(sys.argv[2])
    images = os.path.join(out, "images")
    os.makedirs(images, exist_ok=True)
    nobody = pwd.getpwnam("nobody")
    os.chmod(out, 0o755)
    os.chown(images, nobody.pw_uid, nobody.pw_gid)  # the daemon creates the images
    tmp = tempfile.mkdtemp(prefix="vi.", dir="/tmp")  # short socket path
    daemon = Daemon(tmp, kvm=True)
    try:
        daemon.connect("qemu", 30).close()
        uri = f"__virtinst_test__{daemon.uri('qemu')},fakeuri=qemu:///system"
        # virt-install's own start-up dominates: four at a time.
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            jobs = [(name, pool.submit(write, uri, name, [a.replace("@IMG@", media_dir(images, name, nobody))
                                                         for a in args], out))
                    for name, args in invocations(inv_path)]
            for name, job in jobs:
                print(f"{name}: {job.result()} document(s)")
    except Exception:
        sys.stderr.write(daemon.log_tail())
        raise
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def media_dir(images, name, owner):
    """The invocation's own directory for its images and install media (one
    libvirt pool each, so that invocations run side by side)."""
    d = os.path.join(images, name)
    os.makedirs(d, exist_ok=True)
    media = os.path.join(d, "install.iso")
    with open(media, "wb") as f:
        f.truncate(4 << 20)
    for p in (d, media):
        os.chown(p, owner.pw_uid, owner.pw_gid)  # the daemon creates the images
    return d


def write(uri, name, args, out):
    """virt-install's documents for one invocation: one per step."""
    base = ["virt-install", "--connect", uri, "--name", name, "--noautoconsole"] + args
    docs = []
    for step in ("1", "2"):
        r = subprocess.run(base + ["--print-xml", step], capture_output=True, text=True,
                           env={**os.environ, "LANG": "C"})
        if r.returncode != 0:
            if step == "2" and docs and "step" in r.stderr.lower():
                break  # one step only
            raise RuntimeError(f"virt-install {name} (step {step}) failed:\n{r.stderr}")
        docs.append(r.stdout)
    if len(docs) == 2 and docs[0] == docs[1]:
        docs = docs[:1]
    for i, doc in enumerate(docs, 1):
        suffix = f".{i}" if len(docs) > 1 else ""
        with open(os.path.join(out, f"{name}{suffix}.xml"), "w") as f:
            f.write(doc)
    return len(docs)


if __name__ == "__main__":
    if not re.match(r"^/usr/bin/python3", sys.executable):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    main()
