"""With the C programs, both ways, with and without a key; loss with the
drop option."""
import subprocess
import threading
import time

import pytest

import smart

from conftest import CHILD_ENV

N = 300


def feed(proc, lines):
    def run():
        proc.stdin.write(("\n".join(lines) + "\n").encode())
        proc.stdin.close()
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def receive(sock, n, proc, limit=30.0):
    """Until n messages or losses, or the sender has exited and nothing more
    comes (a datagram dropped before the first one heard is no loss: the
    receiver starts at the first datagram it hears)."""
    got, losses = [], []
    deadline = time.monotonic() + limit
    while len(got) + sum(l.count for l in losses) < n and time.monotonic() < deadline:
        try:
            got.append(sock.recv().data.decode())
        except smart.WouldBlock:  # rcvtimeo_ms passed
            if proc.poll() is not None:
                break
            continue
        except smart.Lost as e:
            losses.append(e.loss)
    return got, losses


def python_from_smart_send(group, smart_send, key=None, pad=0, **opts):
    extra = ["--key-file", key] if key else []
    with smart.Socket(group, "127.0.0.1", rcvtimeo_ms=200, linger_ms=0, key_file=key,
                      **opts) as rx:
        lines = [f"quote {i} IBM {100 + i / 100:.2f} " + "x" * pad for i in range(N)]
        tx = subprocess.Popen([smart_send, "--group", group, "--iface", "127.0.0.1",
                               "--linger", "3", *extra], stdin=subprocess.PIPE, env=CHILD_ENV)
        feed(tx, lines)
        got, losses = receive(rx, N, tx)
        stats = rx.stats()
    assert tx.wait(timeout=30) == 0
    return lines, got, losses, stats


def smart_recv_from_python(group, smart_recv, key=None):
    extra = ["--key-file", key] if key else []
    rx = subprocess.Popen([smart_recv, "--group", group, "--iface", "127.0.0.1", "--count",
                           str(N), "--timeout", "30", *extra], stdout=subprocess.PIPE,
                          env=CHILD_ENV)
    time.sleep(0.5)  # let smart-recv join before the first message
    lines = [f"order {i} qty {i * 7 % 1000}" for i in range(N)]
    with smart.Socket(group, "127.0.0.1", linger_ms=3000, key_file=key) as tx:
        for line in lines:
            assert tx.send(line.encode()) == len(line)
        tx.flush(10)
    out, _ = rx.communicate(timeout=40)
    assert rx.returncode == 0
    return lines, out.decode().splitlines()


def test_python_receives_from_smart_send(group, smart_send):
    lines, got, losses, st = python_from_smart_send(group, smart_send)
    assert not losses and got == lines


def test_smart_recv_receives_from_python(group, smart_recv):
    lines, out = smart_recv_from_python(group, smart_recv)
    assert out == lines


def test_keyed_python_receives_from_smart_send(group, smart_send, keyfile):
    lines, got, losses, st = python_from_smart_send(group, smart_send, keyfile)
    assert not losses and got == lines
    assert st.drops_auth == 0


def test_keyed_smart_recv_receives_from_python(group, smart_recv, keyfile):
    lines, out = smart_recv_from_python(group, smart_recv, keyfile)
    assert out == lines


def test_wrong_key_reads_nothing(group, smart_send, keyfile, tmp_path, smart_keygen):
    other = tmp_path / "other.key"
    subprocess.run([smart_keygen, "--group-key", str(other)], check=True, env=CHILD_ENV)
    with smart.Socket(group, "127.0.0.1", rcvtimeo_ms=200, linger_ms=0,
                      key_file=str(other)) as rx:
        tx = subprocess.Popen([smart_send, "--group", group, "--iface", "127.0.0.1",
                               "--linger", "0", "--key-file", keyfile],
                              stdin=subprocess.PIPE, env=CHILD_ENV)
        feed(tx, [f"secret {i}" for i in range(50)])
        assert tx.wait(timeout=30) == 0
        with pytest.raises(smart.WouldBlock):
            rx.recv()
        st = rx.stats()
        assert st.msgs_received == 0 and st.drops_auth > 0


def test_drop_repaired(group, smart_send):
    """10% of incoming datagrams dropped: repairs fill every gap. (Messages
    of 1,000 bytes: one per datagram.)"""
    lines, got, losses, st = python_from_smart_send(group, smart_send, pad=1000,
                                                    drop_ppm=100_000)
    assert not losses and got == lines
    assert st.drops_injected > 0 and st.repairs_received > 0


def test_drop_unrecoverable_is_reported(group, smart_send):
    """Most datagrams dropped and one request round, under the real-time
    delivery policy (a reliable receiver goes on asking while it hears the
    sender): what cannot be repaired comes back as Lost with the range; what
    arrives is in order."""
    lines, got, losses, st = python_from_smart_send(group, smart_send, pad=1000,
                                                    drop_ppm=700_000, nak_retries=1,
                                                    delivery=1)  # SMART_DELIVERY_REALTIME
    assert losses, "expected an unrecoverable loss"
    assert len(got) + sum(l.count for l in losses) <= N
    for loss in losses:
        assert loss.count >= 1 and loss.last == loss.first + loss.count - 1
        assert loss.sender.startswith("127.0.0.1:") and loss.sender_id > 0
    idx = [lines.index(g) for g in got]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)
    assert st.drops_injected > 0 and st.losses_unrecoverable == sum(l.count for l in losses)


def test_identity_mode(group, smart_send, tmp_path, smart_keygen):
    """A Python receiver with a smart-keygen identity, allowed by smart-send."""
    ident = tmp_path / "rx.id"
    pub = subprocess.run([smart_keygen, "--identity", str(ident)], check=True,
                         capture_output=True, text=True, env=CHILD_ENV).stdout.strip()
    sender_id = tmp_path / "tx.id"
    spub = subprocess.run([smart_keygen, "--identity", str(sender_id)], check=True,
                          capture_output=True, text=True, env=CHILD_ENV).stdout.strip()
    allow = tmp_path / "allow"
    allow.write_text(f"# receivers\n{pub}\n")
    assert smart.keys.read_identity(str(ident)).public.hex() == pub
    assert smart.keys.read_allow_file(str(allow)) == [bytes.fromhex(pub)]
    with smart.Socket(group, "127.0.0.1", rcvtimeo_ms=200, linger_ms=0,
                      identity_file=str(ident), peer_key=bytes.fromhex(spub)) as rx:
        lines = [f"id {i}" for i in range(200)]
        tx = subprocess.Popen([smart_send, "--group", group, "--iface", "127.0.0.1",
                               "--linger", "3", "--identity", str(sender_id), "--allow",
                               str(allow)], stdin=subprocess.PIPE, env=CHILD_ENV)

        def trickle():  # 10 lines every 50 ms: the key exchange has time
            for i in range(0, len(lines), 10):
                tx.stdin.write(("\n".join(lines[i:i + 10]) + "\n").encode())
                tx.stdin.flush()
                time.sleep(0.05)
            tx.stdin.close()
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        got, losses = receive(rx, len(lines), tx)
        t.join(timeout=30)
    assert tx.wait(timeout=30) == 0
    # what was sent before the receiver held the session key is not for it;
    # everything after, in order
    assert got and lines[-len(got):] == got, got[:3]
