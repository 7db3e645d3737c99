#!/usr/bin/env python3
"""A sender killed in the middle of a stream (SIGKILL: no goodbye, no END
heartbeat). Every receiver must say so on its own: smart-recv reports the
loss of what it still missed (SMART_ELOST) or the sender gone, and exits 1,
within the sender timeout (4 s by default) plus a heartbeat spacing. The
bound checked here is 10 s so that a loaded machine does not fail the test;
the time measured is printed.

usage: test-sender-gone.py SMART_SEND SMART_RECV"""
import os
import signal
import subprocess
import sys
import tempfile
import time

send, recv = sys.argv[1], sys.argv[2]
# The sanitizer runtime preloaded for the interpreter is not for the
# (instrumented) programs.
child_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
group = "239.255.%d.%d:%d" % (os.getpid() % 200 + 20, os.getpid() % 250 + 1, 20000 + os.getpid() % 20000)
receivers = []
for drop in (0, 0, 0.1):  # the third loses 10% of what arrives
    args = [recv, "--group", group, "--iface", "127.0.0.1", "--count", "1000000"]
    if drop:
        args += ["--drop", str(drop)]
    # Files, not pipes: nobody reads while the receivers are timed.
    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    receivers.append((subprocess.Popen(args, stdout=out, stderr=err, env=child_env), out, err))
time.sleep(0.5)
sender = subprocess.Popen([send, "--group", group, "--iface", "127.0.0.1"], stdin=subprocess.PIPE,
                          env=child_env)
# A steady stream: 2,000 lines, then one every millisecond.
line = 0
def feed(n, pause):
    global line
    for _ in range(n):
        sender.stdin.write(b"quote %08d 101.25 x 500\n" % line)
        line += 1
        if pause:
            sender.stdin.flush()
            time.sleep(pause)
    sender.stdin.flush()
feed(2000, 0)
feed(1500, 0.001)
os.kill(sender.pid, signal.SIGKILL)
killed = time.monotonic()
sender.wait()
fail = 0
worst = 0.0
ended = {}
while len(ended) < len(receivers) and time.monotonic() - killed < 20:
    for i, (r, _, _) in enumerate(receivers):
        if i not in ended and r.poll() is not None:
            ended[i] = time.monotonic() - killed
    time.sleep(0.02)
for i, (r, fo, fe) in enumerate(receivers):
    if i not in ended:
        r.kill()
        r.wait()
        print("FAIL: receiver %d still waiting 20 s after the sender died" % i)
        fail = 1
        continue
    fo.seek(0)
    fe.seek(0)
    out, err = fo.read(), fe.read()
    took = ended[i]
    worst = max(worst, took)
    err = err.decode(errors="replace").strip()
    lines = out.count(b"\n")
    print("receiver %d: exit %d after %.2f s, %d lines: %s" % (i, r.returncode, took, lines, err))
    if r.returncode != 1 or ("is gone" not in err and "unrecoverable loss" not in err):
        print("FAIL: receiver %d did not report the sender gone or the loss" % i)
        fail = 1
    if lines < 1000:
        print("FAIL: receiver %d got only %d lines before the kill" % (i, lines))
        fail = 1
    if took > 10:
        print("FAIL: receiver %d took %.1f s" % (i, took))
        fail = 1
print("slowest receiver: %.2f s after SIGKILL" % worst)
sys.exit(fail)
