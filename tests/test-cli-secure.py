#!/usr/bin/env python3
"""The security tools end to end on loopback: smart-keygen writes secret
files with mode 0600; smart-send and smart-recv with --key-file deliver to
the key holder, nothing to a receiver with another key; and a captured
session replayed twice, from the sender's own (spoofed) address and port,
prints nothing twice.

usage: test-cli-secure.py SMART-KEYGEN SMART-SEND SMART-RECV
"""
import os
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time

keygen, send_exe, recv_exe = sys.argv[1:4]
if os.geteuid() != 0:
    print("SKIP: spoofing the sender's address needs a raw socket (root)")
    sys.exit(77)
child_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
tmp = tempfile.mkdtemp()
pid = os.getpid()
group_ip, port = f"239.255.44.{pid % 250 + 1}", 31000 + pid % 20000
group = f"{group_ip}:{port}"


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


# smart-keygen
k1, k2, ident = (os.path.join(tmp, n) for n in ("k1", "k2", "id"))
for k in (k1, k2):
    subprocess.run([keygen, "--group-key", k], check=True, env=child_env)
    if stat.S_IMODE(os.stat(k).st_mode) != 0o600:
        fail(f"{k} is not mode 0600")
    if len(open(k).read().strip()) != 64:
        fail("a group key file holds 64 hex digits")
pub = subprocess.run([keygen, "--identity", ident], check=True, capture_output=True,
                     text=True, env=child_env).stdout.strip()
if len(pub) != 64 or stat.S_IMODE(os.stat(ident).st_mode) != 0o600:
    fail("identity: 64 hex digits on stdout and a 0600 file expected")
print("ok: smart-keygen files are 0600; the identity's public key is printed")

# A plain socket joined to the group captures the session.
cap = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cap.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
cap.bind((group_ip, port))
cap.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
               socket.inet_aton(group_ip) + socket.inet_aton("127.0.0.1"))
cap.setblocking(False)

common = ["--group", group, "--iface", "127.0.0.1"]
good = subprocess.Popen([recv_exe, *common, "--key-file", k1, "--count", "400", "--timeout", "8"],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env)
wrong = subprocess.Popen([recv_exe, *common, "--key-file", k2, "--count", "1", "--timeout", "4"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env)
time.sleep(0.5)
lines = [f"secret quote {i} {'x' * (i % 50)}" for i in range(200)]
snd = subprocess.run([send_exe, *common, "--key-file", k1, "--linger", "1"],
                     input=("\n".join(lines) + "\n").encode(), env=child_env)
if snd.returncode != 0:
    fail("smart-send exited non-zero")
time.sleep(0.3)
captured = []
while True:
    try:
        captured.append(cap.recvfrom(65536))
    except BlockingIOError:
        break
if not captured:
    fail("nothing captured")
# Replay it all, twice, from the sender's own address and port.
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
for _ in range(2):
    for payload, (src, sport) in captured:
        udp = struct.pack("!HHHH", sport, port, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 1, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(group_ip))
        raw.sendto(ip + udp, (group_ip, 0))
out, err = good.communicate(timeout=30)
got = out.decode().splitlines()
if got != lines:
    fail(f"the key holder printed {len(got)} lines, expected the {len(lines)} sent, once each")
wout, _ = wrong.communicate(timeout=30)
if wout or wrong.returncode == 0:
    fail("the receiver with another key printed something")
print(f"ok: {len(lines)} messages printed once each; {len(captured)} datagrams replayed twice "
      "from the sender's address printed nothing again; another key printed nothing")
print("2 passed, 0 failed")
