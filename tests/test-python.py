#!/usr/bin/env python3
"""libsmart from Python ctypes, with no C shim: receive from smart-send and
send to smart-recv over multicast on loopback.

usage: test-python.py LIBSMART.so SMART-SEND SMART-RECV
"""
import ctypes as C
import os
import subprocess
import sys
import time

lib_path, send_exe, recv_exe = sys.argv[1:4]
lib = C.CDLL(lib_path)

SMART_EAGAIN, SMART_ELOST = -11, -23
SMART_OPT_RCVTIMEO_MS, SMART_OPT_LINGER_MS = 11, 9


class MsgInfo(C.Structure):
    _fields_ = [("size", C.c_size_t), ("kind", C.c_uint32), ("flags", C.c_uint32),
                ("seq", C.c_uint64), ("count", C.c_uint64), ("sender_id", C.c_uint64),
                ("len", C.c_size_t), ("sender", C.c_char * 48)]


lib.smart_version.restype = C.c_char_p
lib.smart_strerror.restype = C.c_char_p
lib.smart_strerror.argtypes = [C.c_int]
lib.smart_open.argtypes = [C.POINTER(C.c_void_p), C.c_uint32]
lib.smart_close.argtypes = [C.c_void_p]
lib.smart_close.restype = None
lib.smart_join.argtypes = [C.c_void_p, C.c_char_p, C.c_char_p, C.c_char_p, C.c_uint32]
lib.smart_setopt.argtypes = [C.c_void_p, C.c_int, C.c_void_p, C.c_size_t]
lib.smart_send.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t, C.c_uint32]
lib.smart_send.restype = C.c_ssize_t
lib.smart_recv.argtypes = [C.c_void_p, C.c_void_p, C.c_size_t, C.POINTER(MsgInfo), C.c_uint32]
lib.smart_recv.restype = C.c_ssize_t

# The examples run with the environment minus a sanitizer runtime preloaded
# for this (uninstrumented) interpreter: they carry their own.
child_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}

pid = os.getpid()
port = 30000 + pid % 20000


def check(rc, what):
    if rc < 0:
        sys.exit(f"FAIL {what}: {lib.smart_strerror(rc).decode()}")
    return rc


def open_joined(group):
    s = C.c_void_p()
    check(lib.smart_open(C.byref(s), 0), "smart_open")
    check(lib.smart_join(s, group.encode(), b"127.0.0.1", None, 0), "smart_join")
    return s


def receive_from_smart_send(n):
    group = f"239.255.40.{pid % 250 + 1}:{port}"
    s = open_joined(group)
    t = C.c_int32(200)
    check(lib.smart_setopt(s, SMART_OPT_RCVTIMEO_MS, C.byref(t), 4), "setopt")
    lines = [f"quote {i} IBM {100 + i / 100:.2f}" for i in range(n)]
    sender = subprocess.Popen([send_exe, "--group", group, "--iface", "127.0.0.1",
                               "--linger", "3"], stdin=subprocess.PIPE, env=child_env)
    sender.stdin.write(("\n".join(lines) + "\n").encode())
    sender.stdin.close()
    got, buf, info = [], C.create_string_buffer(2048), MsgInfo()
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        info.size = C.sizeof(MsgInfo)
        r = lib.smart_recv(s, buf, len(buf), C.byref(info), 0)
        if r == SMART_EAGAIN:
            continue
        if r == SMART_ELOST:
            sys.exit(f"FAIL: loss reported: {info.count} from {info.seq}")
        check(r, "smart_recv")
        got.append(buf.raw[:r].decode())
    lib.smart_close(s)
    if sender.wait(timeout=30) != 0:
        sys.exit("FAIL: smart-send exited non-zero")
    if got != lines:
        sys.exit(f"FAIL: python received {len(got)} of {n}, or out of order")
    print(f"ok: python received {n} messages from smart-send in order (last from {info.sender.decode()})")


def send_to_smart_recv(n):
    group = f"239.255.41.{pid % 250 + 1}:{port}"
    rx = subprocess.Popen([recv_exe, "--group", group, "--iface", "127.0.0.1",
                           "--count", str(n), "--timeout", "30"], stdout=subprocess.PIPE,
                          env=child_env)
    time.sleep(0.5)  # let smart-recv join before the first message
    s = open_joined(group)
    linger = C.c_uint32(3000)
    check(lib.smart_setopt(s, SMART_OPT_LINGER_MS, C.byref(linger), 4), "setopt")
    lines = [f"order {i} qty {i * 7 % 1000}" for i in range(n)]
    for line in lines:
        b = line.encode()
        if check(lib.smart_send(s, b, len(b), 0), "smart_send") != len(b):
            sys.exit("FAIL: short send")
    lib.smart_close(s)  # lingers answering repairs
    out, _ = rx.communicate(timeout=40)
    if rx.returncode != 0:
        sys.exit(f"FAIL: smart-recv exited {rx.returncode}")
    if out.decode().splitlines() != lines:
        sys.exit("FAIL: smart-recv printed something else")
    print(f"ok: smart-recv received {n} messages from python in order")


def raw_seed_sender_to_smart_recv(n):
    """Any implementation of the seed's DATA layout can talk to libsmart: a
    plain socket sends CMD 0 / FMT 0 / D 0 packets, starting at an arbitrary
    sequence across the 16-bit wrap, from a sender smart-recv never heard."""
    import socket, struct
    group_ip, gport = f"239.255.42.{pid % 250 + 1}", port + 1
    rx = subprocess.Popen([recv_exe, "--group", f"{group_ip}:{gport}", "--iface", "127.0.0.1",
                           "--count", str(n), "--timeout", "20"], stdout=subprocess.PIPE,
                          env=child_env)
    time.sleep(0.5)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    lines = [f"raw {i}" for i in range(n)]
    for i, line in enumerate(lines):
        body = line.encode()
        seq = (65500 + i) & 0xFFFF
        # Access Synch 0x53 | TYP 00 CMD 00 RESRV 0000 | Packet Size |
        # Packet Sequence | FMT 00 D 0 QUIET 0000 R 0 | RESERVED
        pkt = struct.pack(">BBHHBB", 0x53, 0x00, 8 + len(body), seq, 0, 0) + body
        tx.sendto(pkt, (group_ip, gport))
        time.sleep(0.0005)
    out, _ = rx.communicate(timeout=30)
    if rx.returncode != 0 or out.decode().splitlines() != lines:
        sys.exit(f"FAIL: smart-recv did not print the raw sender's {n} messages")
    print(f"ok: smart-recv delivered {n} seed-format datagrams from a raw socket, across the wrap")


def smart_send_is_seed_format():
    """Sent while not backlogged, each message leaves alone as CMD 0 / FMT 0 /
    D 0 with the message as the whole payload."""
    import socket, struct
    group_ip, gport = f"239.255.43.{pid % 250 + 1}", port + 2
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    rx.bind((group_ip, gport))
    rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                  socket.inet_aton(group_ip) + socket.inet_aton("127.0.0.1"))
    rx.settimeout(5)
    s = open_joined(f"{group_ip}:{gport}")
    seen = []
    for i in range(5):
        b = f"tick {i}".encode()
        check(lib.smart_send(s, b, len(b), 0), "smart_send")
        while True:  # skip heartbeats (CMD 2)
            pkt = rx.recv(2048)
            sync, b1, size, seq, bits, rsvd = struct.unpack(">BBHHBB", pkt[:8])
            if b1 >> 4 == 0:
                break
        # FMT 0, D 0, QUIET 0; the R bit (the stream's start is still
        # repairable, smart-protocol(7)) may be set in its first 500 ms.
        if (sync, b1, size, bits & ~1, rsvd) != (0x53, 0, len(pkt), 0, 0) or pkt[8:] != b:
            sys.exit(f"FAIL: message {i} did not leave as a lone CMD 0/FMT 0/D 0 datagram")
        seen.append(seq)
        time.sleep(0.01)
    lib.smart_close(s)
    if [(x - seen[0]) & 0xFFFF for x in seen] != list(range(5)):
        sys.exit("FAIL: sequences are not consecutive")
    print("ok: smart_send at a moderate rate emits lone seed-format DATA datagrams")


print("libsmart", lib.smart_version().decode())
receive_from_smart_send(500)
send_to_smart_recv(500)
raw_seed_sender_to_smart_recv(300)
smart_send_is_seed_format()
print("4 passed, 0 failed")
