"""The Socket class in one process: data paths, options, lifetime, misuse."""
import array
import gc
import threading
import weakref

import pytest

import smart


def pair(group, **kw):
    rx = smart.Socket(group, "127.0.0.1", rcvtimeo_ms=5000, linger_ms=0, **kw)
    tx = smart.Socket(group, "127.0.0.1", linger_ms=0, **kw)
    return rx, tx


def test_send_every_bytes_like_and_receive(group):
    rx, tx = pair(group)
    with rx, tx:
        payloads = [b"bytes", bytearray(b"bytearray"), memoryview(b"xxviewxx")[2:6],
                    memoryview(bytearray(b"writable view")), array.array("I", [1, 2, 3]),
                    memoryview(b"whole read-only view")]
        for p in payloads:
            assert tx.send(p) == memoryview(p).nbytes
        tx.flush(5)
        last_seq = 0
        for i, p in enumerate(payloads):
            m = rx.recv()
            assert m.data == bytes(memoryview(p).cast("B"))
            assert isinstance(m.data, bytes)
            assert m.length == len(m.data) and not m.truncated
            assert m.sender.startswith("127.0.0.1:")
            assert m.seq >= last_seq  # a datagram's sequence: small messages may share one
            last_seq = m.seq


def test_recv_into_and_truncation(group):
    rx, tx = pair(group, recv_size=8)
    with rx, tx:
        tx.send(b"0123456789abcdef")
        tx.send(b"into me")
        tx.send(b"short")
        tx.flush(5)
        m = rx.recv()
        assert m.truncated and m.data == b"01234567" and m.length == 16
        buf = bytearray(64)
        n = rx.recv_into(buf)
        assert buf[:n] == b"into me" and rx.last.length == n and not rx.last.truncated
        view = memoryview(bytearray(3))
        assert rx.recv_into(view) == 3 and bytes(view) == b"sho" and rx.last.truncated
        with pytest.raises(TypeError):
            rx.recv_into(b"read-only bytes")
        with pytest.raises(TypeError):
            rx.recv_into(memoryview(b"read-only view"))
        with pytest.raises(ValueError):
            rx.recv_into(bytearray(4), 5)


def test_typed_options():
    with smart.Socket(ttl=0, linger_ms=0, rcvtimeo_ms=250) as s:
        assert s.ttl == 0 and s.linger_ms == 0 and s.rcvtimeo_ms == 250
        assert s.getopt(smart.Option.TTL) == 0 and s.getopt("rcvtimeo_ms") == 250
        s.loopback = False
        assert s.loopback is False
        s.rate = 10 ** 9
        assert s.rate == 10 ** 9
        s.seed = (1 << 64) - 1
        assert s.seed == (1 << 64) - 1
        assert s.last_os_error == 0
        s.crypto = "null"
        assert s.crypto == "null"
        s.group_key = bytes(32)
        with pytest.raises(AttributeError):
            s.group_key
        # wrong types and sizes are refused before the library sees them
        with pytest.raises(TypeError):
            s.ttl = "1"
        with pytest.raises(TypeError):
            s.window = 1.5
        with pytest.raises(ValueError):
            s.window = -1
        with pytest.raises(ValueError):
            s.rate = 1 << 64
        with pytest.raises(ValueError):
            s.group_key = bytes(31)
        with pytest.raises(ValueError):
            s.identity = bytes(32)
        with pytest.raises(TypeError):
            s.peer_key = "00" * 32
        with pytest.raises(AttributeError):
            s.last_os_error = 1
        with pytest.raises(smart.InvalidArgument):
            s.setopt("last_os_error", 1)
        with pytest.raises(smart.UnknownOption):
            s.setopt("no_such_option", 1)
        with pytest.raises(smart.UnknownOption):
            s.getopt(999)
        with pytest.raises(ValueError):
            s.crypto = "rot13"
        # the library's own checks come back as exceptions
        with pytest.raises(smart.InvalidArgument):
            s.sync = 256
    with pytest.raises(TypeError):
        smart.Socket(no_such_option=1)


def test_closed_socket_raises_and_never_touches_freed_memory(group):
    s = smart.Socket(group, "127.0.0.1", linger_ms=0)
    s.close()
    s.close()  # harmless
    assert s.closed
    for call in (lambda: s.send(b"x"), s.recv, lambda: s.recv_into(bytearray(4)), s.fileno,
                 s.process, s.timeout, s.stats, s.events, s.members, lambda: s.ttl,
                 lambda: s.join(group, "127.0.0.1"), lambda: s.leave(group), s.flush,
                 lambda: setattr(s, "ttl", 1), lambda: s.last):
        with pytest.raises(smart.Closed):
            call()
    with pytest.raises(smart.Closed):
        with s:
            pass


def test_context_manager_and_finalizer(group):
    with smart.Socket(group, "127.0.0.1", linger_ms=0) as s:
        assert not s.closed
    assert s.closed
    s = smart.Socket(group, "127.0.0.1", linger_ms=0)
    fin = s._finalizer
    ref = weakref.ref(s)
    del s
    gc.collect()
    assert ref() is None and not fin.alive


def test_one_socket_per_thread(group):
    s = smart.Socket(group, "127.0.0.1", linger_ms=0)
    errors = []

    def other():
        for call in (lambda: s.send(b"x"), s.recv, s.close, s.fileno, lambda: s.ttl):
            try:
                call()
            except smart.ThreadError as e:
                errors.append(e)
    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert len(errors) == 5 and "another thread" in str(errors[0])
    assert not s.closed
    s.close()
    # a socket of its own in another thread works
    out = []

    def own():
        with smart.Socket(linger_ms=0) as mine:
            out.append(mine.ttl)
    t = threading.Thread(target=own)
    t.start()
    t.join()
    assert out == [1]


def test_wrong_argument_types(group):
    with smart.Socket(linger_ms=0) as s:
        with pytest.raises(TypeError):
            s.join(b"239.255.1.1:5000")
        with pytest.raises(TypeError):
            s.join(group, 127)
        with pytest.raises(ValueError):
            s.join("239.255.1.1:5000\0x")
        with pytest.raises(smart.InvalidArgument):
            s.join("not an address", "127.0.0.1")
        with pytest.raises(smart.NotJoined):
            s.send(b"x")
        with pytest.raises(smart.NotJoined):
            s.fileno()
        s.join(group, "127.0.0.1")
        with pytest.raises(TypeError):
            s.send("text")
        with pytest.raises(TypeError):
            s.send(12)
        with pytest.raises(smart.InvalidArgument):
            s.send(b"")
        with pytest.raises(ValueError):
            s.allow(bytes(31))
    with pytest.raises(ValueError):
        smart.Socket(recv_size=0)


def test_selectors_loop(group):
    import selectors
    rx, tx = pair(group, nonblock=True)
    with rx, tx:
        sel = selectors.DefaultSelector()
        sel.register(rx.fileno(), selectors.EVENT_READ)
        for i in range(20):
            tx.send(b"tick %d" % i)
        got = []
        for _ in range(1000):
            if len(got) == 20:
                break
            tx.process()
            t = rx.timeout()
            sel.select(0.05 if t is None else min(t, 0.05))
            rx.process()
            while True:
                try:
                    got.append(rx.recv().data)
                except smart.WouldBlock:
                    break
        assert got == [b"tick %d" % i for i in range(20)]
        assert isinstance(rx.timeout_ms(), int)


def test_stats_events_members(group):
    tx = smart.Socket(group, "127.0.0.1", linger_ms=0, member_timeout_ms=60000)
    rx = smart.Socket(group, "127.0.0.1", rcvtimeo_ms=5000, linger_ms=0)
    with tx, rx:
        tx.send(b"hello")
        tx.flush(5)
        assert rx.recv().data == b"hello"
        st = rx.stats()
        assert isinstance(st, smart.Stats) and st.msgs_received == 1 and st.senders == 1
        assert tx.stats().msgs_sent == 1
        with pytest.raises(Exception):
            st.msgs_received = 5  # frozen
        events = []
        for _ in range(200):
            rx.process()
            tx.process()
            events += tx.events()
            if any(e.type == smart.EventType.JOIN for e in events):
                break
            import time
            time.sleep(0.025)
        joins = [e for e in events if e.type == smart.EventType.JOIN]
        assert joins and joins[0].member.startswith("127.0.0.1:")
        members = tx.members()
        assert [m.member_id for m in members] == [joins[0].member_id]
        assert isinstance(members[0], smart.Member) and members[0].addr == joins[0].member
        assert rx.next_event() is None or isinstance(rx.next_event(), (smart.Event, type(None)))
