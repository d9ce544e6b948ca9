"""The shared catch-up (sdk/ledger/follow.py): every entry folded once, in seq order, whoever
wrote it; nothing read when nothing changed; a probe that can be swapped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sdk import Personalizer
from sdk.errors import LedgerError
from sdk.ledger import LedgerEntry, SizeProbe


class Spy:
    """A view that records the seqs it was given."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def apply(self, entry: LedgerEntry) -> None:
        self.seen.append(entry.seq)

    def reset(self) -> None:
        self.seen = []


def test_own_appends_never_skip_another_writers_entry(store_url: str, keyring_path: Path) -> None:
    with Personalizer.open(store_url, keyring=keyring_path) as a, Personalizer.open(
        store_url, keyring=keyring_path
    ) as b:
        spy = Spy()
        a.views.register(spy, ["notes"])
        foreign = b.ledger.append("notes", "note.test", {"n": 1})
        own = a.ledger.append("notes", "note.test", {"n": 2})
        a.views.appended(own)  # the gap before it (B's entry) is read first
        assert spy.seen == [foreign.seq, own.seq]
        a.views.catch_up()
        assert spy.seen == [foreign.seq, own.seq]  # never twice
        a.views.rebuild(spy)
        assert spy.seen == [foreign.seq, own.seq]  # rebuilt from the log alone: the same
        late = Spy()
        a.views.register(late, ["notes"])  # a view registered later starts in step
        assert late.seen == spy.seen
        with pytest.raises(LedgerError):
            a.views.register(late, ["notes"])


def test_threads_appending_and_catching_up_fold_each_entry_once_in_order(p: Personalizer) -> None:
    spy = Spy()
    p.views.register(spy, ["notes"])
    start = threading.Barrier(4)

    def work(t: int) -> None:
        start.wait()
        for i in range(25):
            p.views.appended(p.ledger.append("notes", "note.test", {"t": t, "i": i}))
            p.views.catch_up()

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    p.views.catch_up()
    notes = [e.seq for e in p.ledger.entries(stream="notes")]
    assert spy.seen == notes and len(notes) == 100


def test_nothing_changed_costs_one_probe_and_a_call_pins_it(p: Personalizer) -> None:
    class CountingProbe:
        def __init__(self, inner: object) -> None:
            self.inner, self.calls = inner, 0

        def position(self) -> int:
            self.calls += 1
            return self.inner.position()  # type: ignore[attr-defined, no-any-return]

    probe = CountingProbe(p.views.probe)
    p.views.probe = probe
    p.views.catch_up()
    assert probe.calls == 1
    with p.views.call():
        p.consent.state("someone")  # inside one serving call: no second probe
        p.views.catch_up()
    assert probe.calls == 2


class _CountedSize:
    """The real ledger behind a counter of the head reads made through ``size``."""

    def __init__(self, ledger: object) -> None:
        self.ledger, self.reads = ledger, 0
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        with self._lock:
            self.reads += 1
        return self.ledger.size  # type: ignore[attr-defined, no-any-return]


_APPENDER = (
    "import sys\nfrom sdk import Personalizer\n"
    "with Personalizer.open(sys.argv[1], keyring=sys.argv[2]) as p:\n"
    "    for i in range(int(sys.argv[3])):\n"
    "        e = p.ledger.append('notes', 'note.test', {'i': i})\n"
    "        print(e.seq, flush=True)\n"
)


def test_shared_probe_reads_still_see_every_commit_another_process_acknowledged(
    store_url: str, keyring_path: Path
) -> None:
    """Threads share head reads, yet each answer covers every entry another process had
    reported committed before the thread asked (a read already in flight is never reused)."""
    with Personalizer.open(store_url, keyring=keyring_path) as p:
        counted = _CountedSize(p.ledger)
        probe = SizeProbe(counted)  # type: ignore[arg-type]
        child = subprocess.Popen(
            [sys.executable, "-c", _APPENDER, store_url, str(keyring_path), "300"],
            stdout=subprocess.PIPE,
            text=True,
        )
        acknowledged = [0]
        stale: list[tuple[int, int]] = []
        calls = [0]

        def listen() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                acknowledged[0] = int(line)

        def ask() -> None:
            while child.poll() is None:
                before = acknowledged[0]
                got = probe.position()
                calls[0] += 1
                if got < before:
                    stale.append((before, got))

        listener = threading.Thread(target=listen)
        askers = [threading.Thread(target=ask) for _ in range(16)]
        listener.start()
        for th in askers:
            th.start()
        assert child.wait(timeout=180) == 0
        for th in [listener, *askers]:
            th.join(timeout=60)
        assert stale == []
        assert acknowledged[0] == p.ledger.size
        assert probe.position() == p.ledger.size
        assert calls[0] > 300
        assert counted.reads < calls[0]  # reads were shared


def test_a_caller_interrupted_while_waiting_its_turn_leaves_no_one_waiting(
    p: Personalizer,
) -> None:
    """The caller that is to make the next read is interrupted (a signal, KeyboardInterrupt)
    while the read before it is in flight: the callers sharing its read, and every later
    caller, still get answers (they read for themselves), nobody waits forever."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    gate, entered = threading.Event(), threading.Event()

    class FirstReadWaits:
        """The real ledger; its first ``size`` read waits for the gate."""

        def __init__(self, ledger: object) -> None:
            self.ledger, self.first = ledger, True

        @property
        def size(self) -> int:
            if self.first:
                self.first = False
                entered.set()
                gate.wait(30)
            return self.ledger.size  # type: ignore[attr-defined, no-any-return]

    probe = SizeProbe(FirstReadWaits(p.ledger))  # type: ignore[arg-type]
    leader = threading.Thread(target=probe.position)
    leader.start()
    assert entered.wait(30)
    answers: list[int] = []
    sharer = threading.Thread(target=lambda: answers.append(probe.position()))

    class Interrupted(Exception):
        pass

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted

    def later() -> None:
        sharer.start()  # queues behind the main thread's turn, to share its read
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGUSR1)

    old = signal.signal(signal.SIGUSR1, interrupt)
    try:
        threading.Timer(0.3, later).start()
        with pytest.raises(Interrupted):
            probe.position()  # waits for its turn behind the leader's read
    finally:
        signal.signal(signal.SIGUSR1, old)
    gate.set()
    leader.join(30)
    sharer.join(30)
    assert not sharer.is_alive() and answers == [p.ledger.size]
    late: list[int] = []
    after = threading.Thread(target=lambda: late.append(probe.position()))
    after.start()
    after.join(30)
    assert not after.is_alive() and late == [p.ledger.size]
