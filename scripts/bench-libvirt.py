#!/usr/bin/python3
"""Benchmark libvirt's own daemon (libvirtd) serving the test:///default driver.

Starts a private libvirtd in session mode with every path (socket, config,
cache, runtime state) inside a fresh temp dir, connects to it with
python3-libvirt over `test+unix:///default?socket=...` and measures RPC round
trip, defineXML, listAllDomains, getAllDomainStats and the daemon's RSS.
Prints ONE JSON object on stdout; diagnostics go to stderr.

Needs (Debian 12): libvirt-daemon python3-libvirt.  When run as root the
daemon runs as an unprivileged user (default `nobody`) via setpriv.

Usage: /usr/bin/python3 scripts/bench-libvirt.py [--domains 1000] [--calls 20000]
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import statistics
import sys
import tempfile
import time

SYSTEM_PYTHON = "/usr/bin/python3"

try:
    import libvirt
except ImportError:
    # python3-libvirt lives in Debian's python; a pyenv/venv python3 on PATH
    # cannot import it, so re-run once under the system interpreter.
    if os.path.exists(SYSTEM_PYTHON) and not os.environ.get("BENCH_LIBVIRT_REEXEC"):
        os.environ["BENCH_LIBVIRT_REEXEC"] = "1"
        os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, os.path.abspath(__file__)] + sys.argv[1:])
    sys.exit("bench-libvirt: cannot import libvirt (apt-get install python3-libvirt)")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from private_libvirtd import Daemon  # noqa: E402


def log(msg):
    print(f"bench-libvirt: {msg}", file=sys.stderr, flush=True)


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def write_syscalls(pid):
    """Number of write syscalls the process has made (from /proc/PID/io)."""
    with open(f"/proc/{pid}/io") as f:
        return int(next(l for l in f if l.startswith("syscw:")).split()[1])


def median_ms(fn, runs):
    fn()  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
    return round(statistics.median(times) / 1e6, 3)


def domain_xml(i):
    return (f"<domain type='test'><name>bench-{i}</name>"
            f"<memory unit='MiB'>128</memory><vcpu>1</vcpu>"
            f"<os><type>hvm</type></os></domain>")


def run(args, daemon):
    conn = daemon.connect("test", args.startup_timeout)
    v = conn.getLibVersion()  # the daemon's libvirt version, via RPC
    res = {"libvirt_version": f"{v // 1000000}.{v // 1000 % 1000}.{v % 1000}",
           "uri": "test+unix:///default", "daemon_pid_user": pwd.getpwuid(
               os.stat(f"/proc/{daemon.pid}").st_uid).pw_name}
    time.sleep(0.5)  # let start-up settle before reading idle RSS
    res["rss_idle_kb"] = rss_kb(daemon.pid)

    # Round trip: each call is its own RPC; the daemon's write-syscall count
    # proves every call reached it (nothing answered from a client cache).
    def round_trip(fn):
        for _ in range(args.calls // 10):
            fn()
        times, w0 = [], write_syscalls(daemon.pid)
        for _ in range(args.calls):
            t0 = time.perf_counter_ns()
            fn()
            times.append(time.perf_counter_ns() - t0)
        writes = write_syscalls(daemon.pid) - w0
        if writes < args.calls:
            raise RuntimeError(f"daemon did {writes} writes for {args.calls} calls")
        return {"median": round(statistics.median(times) / 1e3, 2),
                "mean": round(statistics.fmean(times) / 1e3, 2),
                "p99": round(sorted(times)[int(len(times) * 0.99)] / 1e3, 2),
                "daemon_writes_per_call": round(writes / args.calls, 2)}
    res["round_trip_us"] = round_trip(conn.getLibVersion)
    res["lookup_us"] = round_trip(lambda: conn.lookupByName("test"))

    t0 = time.perf_counter_ns()
    for i in range(args.domains):
        conn.defineXML(domain_xml(i))
    res["define_us_each"] = round((time.perf_counter_ns() - t0) / 1e3 / args.domains, 2)
    res["domains_total"] = n_total = len(conn.listAllDomains(0))
    if n_total != args.domains + 1:
        raise RuntimeError(f"expected {args.domains + 1} domains, daemon has {n_total}")
    res["domains_active"] = len(conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
    time.sleep(0.2)
    res["rss_1000_kb"] = rss_kb(daemon.pid)

    res["list_ms"] = median_ms(lambda: conn.listAllDomains(0), args.list_runs)
    res["stats_ms"] = median_ms(lambda: conn.getAllDomainStats(), args.stats_runs)
    if args.start_all:  # optional: stats again with every domain running
        for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_INACTIVE):
            dom.create()
        res["domains_active_after_start"] = len(
            conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE))
        res["stats_ms_all_active"] = median_ms(lambda: conn.getAllDomainStats(),
                                               args.stats_runs)

    for k in ("rss_idle", "rss_1000"):
        res[f"{k}_mib"] = round(res[f"{k}_kb"] / 1024, 1)
    res["notes"] = (
        f"libvirtd {res['libvirt_version']} in session mode as user "
        f"{res['daemon_pid_user']}, all paths under a temp dir; client python3-libvirt "
        f"(Python binding overhead included). round_trip=getLibVersion, "
        f"lookup=lookupByName('test'), {args.calls} calls each; define: {args.domains} "
        f"defineXML (inactive domains); list: median of {args.list_runs} listAllDomains(0) "
        f"over {n_total} domains; stats: median of {args.stats_runs} getAllDomainStats() "
        f"(all groups, default flags) with {res['domains_active']} of {n_total} active; "
        f"rss_1000 = after the defines; VmRSS in kB (1024 B), MiB = kB/1024.")
    conn.close()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--domains", type=int, default=1000, help="domains to define (1000)")
    ap.add_argument("--calls", type=int, default=20000, help="round-trip calls (20000)")
    ap.add_argument("--list-runs", type=int, default=20)
    ap.add_argument("--stats-runs", type=int, default=10)
    ap.add_argument("--start-all", action="store_true",
                    help="also start all domains and measure stats again")
    ap.add_argument("--libvirtd", default="/usr/sbin/libvirtd")
    ap.add_argument("--user", default="nobody", help="daemon user when run as root")
    ap.add_argument("--startup-timeout", type=float, default=60)
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir")
    args = ap.parse_args()

    if not os.access(args.libvirtd, os.X_OK):
        sys.exit(f"bench-libvirt: {args.libvirtd} not found (apt-get install libvirt-daemon)")
    # Turn SIGTERM/SIGINT into exceptions so the daemon is always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    libvirt.registerErrorHandler(lambda *_: None, None)  # errors arrive as exceptions

    tmp = tempfile.mkdtemp(prefix="bench-libvirt.", dir="/tmp")  # short socket path
    daemon = None
    try:
        daemon = Daemon(tmp, args.libvirtd, args.user)
        log(f"libvirtd pid {daemon.pid}, socket {daemon.socket}")
        try:
            res = run(args, daemon)
        except Exception as e:
            if daemon.proc.poll() is not None or not os.path.exists(daemon.socket):
                sys.stderr.write(daemon.log_tail())
                sys.exit(f"bench-libvirt: cannot start/reach libvirtd: {e}")
            raise
    finally:
        if daemon:
            daemon.stop()
        if args.keep_tmp:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
