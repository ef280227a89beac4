#!/usr/bin/env python3
"""Replay's memory on a 1 GiB recording against issue 15's target.

    python3 test/bench/replay-mem.py BIN KUBECTL RECORDING [RUNS]

BIN is an installed (copied) kubectl-rexec, KUBECTL the kubectl binary,
RECORDING the 1 GiB recording test/bench/replay-bench.sh writes. Each
command runs RUNS times (default 3); for each run it prints the peak RSS
(ru_maxrss) and the peak RssAnon / RssFile sampled from /proc every 5 ms.
Interactive runs drive the player on an 80x24 pty with keys. Target: RssAnon
<= 32 MiB, and peak RSS <= kubectl version --client's peak + 16 MiB.
"""
import os, pty, re, select, signal, struct, fcntl, sys, termios, time

def status(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            s = f.read()
    except OSError:
        return None
    get = lambda k: int(re.search(rf"^{k}:\s+(\d+)", s, re.M).group(1)) if re.search(rf"^{k}:", s, re.M) else 0
    return get("RssAnon"), get("RssFile")

def run(argv, keys=None, tty=False):
    """Runs argv; keys is a list of (seconds after start, bytes) sent to its pty."""
    if tty:
        pid, fd = pty.fork()
        if pid == 0:
            os.execv(argv[0], argv)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    else:
        pid = os.fork()
        if pid == 0:
            devnull = os.open("/dev/null", os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.execv(argv[0], argv)
        fd = None
    t0 = time.monotonic()
    anon = fil = 0
    pending = list(keys or [])
    while True:
        r = os.wait4(pid, os.WNOHANG)
        if r[0] == pid:
            return r[2].ru_maxrss, anon, fil, time.monotonic() - t0
        st = status(pid)
        if st:
            anon, fil = max(anon, st[0]), max(fil, st[1])
        if fd is not None:
            while select.select([fd], [], [], 0)[0]:
                try:
                    if not os.read(fd, 1 << 16):
                        break
                except OSError:
                    break
            now = time.monotonic() - t0
            while pending and pending[0][0] <= now:
                os.write(fd, pending.pop(0)[1])
        time.sleep(0.005)

def main():
    bin_, kubectl, rec = sys.argv[1:4]
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    k = [run([kubectl, "version", "--client"])[0] for _ in range(runs)]
    base = max(k)
    print(f"kubectl version --client: peak RSS {', '.join(str(x) for x in k)} KiB; target for replay: {base + 16384} KiB, RssAnon <= 32768 KiB")
    cases = [
        ("dump --no-wait --from 0", [bin_, "replay", "--no-wait", "--from", "0", rec], None, False),
        ("seek --no-wait --from 31m56s --to 31m57s", [bin_, "replay", "--no-wait", "--from", "31m56s", "--to", "31m57s", rec], None, False),
        ("--no-wait --from end", [bin_, "replay", "--no-wait", "--from", "end", rec], None, False),
        ("pty --keys=false --from end", [bin_, "replay", "--keys=false", "--from", "end", rec], None, True),
        ("interactive: seeks, End, g, q", [bin_, "replay", "--from", "31m56s", rec],
         [(1.5, b"\x1b[C"), (2.5, b"\x1b[1;2D"), (3.5, b"\x1b[F"), (4.5, b"g10:00\r"), (5.5, b"]"), (6.5, b"q")], True),
        ("interactive: 256x through bulk output, q", [bin_, "replay", "--speed", "256", "--from", "10m", rec],
         [(6, b"q")], True),
        ("interactive: / search (runs to the end), q", [bin_, "replay", "--from", "1m", rec],
         [(1, b"/id=fc9d0e40\r"), (8, b"q")], True),
    ]
    for name, argv, keys, tty in cases:
        for _ in range(runs):
            rss, anon, fil, wall = run(argv, keys, tty)
            ok = "PASS" if anon <= 32768 and rss <= base + 16384 else "OVER"
            print(f"{name}: peak RSS {rss} KiB, RssAnon {anon} KiB, RssFile {fil} KiB, {wall:.1f} s  {ok}")

main()
