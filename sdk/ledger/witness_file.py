"""Witness sinks on a file system: the default checkpoint log, and a directory of logs.

:class:`FileWitness` is one append-only file of checkpoint notes, one JSON line each
(``{"note": "..."}``), created ``0600``. Every append takes an exclusive ``flock`` on the file,
reads the last record, checks that the new checkpoint extends it (same root at the same size, or
a verifying RFC 9162 consistency proof from its size) and only then appends and ``fsync``\\ s, so
two processes racing never make the log go back to a smaller size: the late one is ignored. A
torn last line (a crash mid-write, never acknowledged) is cut off before the next append.

What the log holds is its *largest* record, not its last line: an append-only file (a mount that
refuses truncation) still lets anyone who can write it append a copy of an older, authentic
record, and a reader of the last line alone would then go back with it. Each instance reads the
file once and then only what was appended since (under the lock), so the cost is one pass per
process; a second record of the largest size, with another root, is a fork in the log
(:class:`~sdk.errors.WitnessConflict`).

By default (:func:`default_witness_path`) the log sits beside the keyring: it stops an attacker
who holds the database (or an old copy of it) but not one who also holds the keyring's folder.
:class:`DirectoryWitness` keeps the log in another folder -- another volume, a mount only the
application can append to -- pinned to the one ledger origin it witnesses. A log holds one
origin: a record or a question about another is a :class:`~sdk.errors.WitnessOriginConflict`.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import threading
from pathlib import Path

from ..errors import WitnessConflict, WitnessError, WitnessOriginConflict
from .checkpoint import Checkpoint
from .merkle import verify_consistency
from .witness import Anchor, ProveFn, checkpoint_fields

__all__ = ["DirectoryWitness", "FileWitness", "default_witness_path"]

_CHUNK = 1 << 20
_MAX_RECORD = 64 * 1024  # a record is a few hundred bytes (a note is at most 4 KiB)


def _record_head(origin: str) -> bytes:
    """How a record of the writer's own layout for ``origin`` starts (``{"note":"`` and the
    note's first line, the origin, up to its escaped newline)."""
    return b'{"note":"' + origin.encode() + b"\\n"


def default_witness_path(keyring_path: Path) -> Path:
    """``shop.keyring.json`` -> ``shop.keyring.witness.log`` in the same folder."""
    name = keyring_path.name.removesuffix(".json")
    return keyring_path.with_name(name + ".witness.log")


class FileWitness:
    """An append-only, fsynced, ``0600`` checkpoint log in one file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()  # flock is per open file; threads share the process's
        # what this instance read of the file: which file, how far (complete records), and
        # the largest record
        self._file_id: tuple[int, int] | None = None
        self._read = 0
        self._best: Anchor | None = None
        self._top: tuple[int, bytes, bytes] | None = None  # size, root text, record

    @property
    def path(self) -> Path:
        """The log file."""
        return self._path

    @property
    def name(self) -> str:
        """``the witness log <path>``, for messages."""
        return f"the witness log {self._path}"

    def __repr__(self) -> str:
        return f"FileWitness({str(self._path)!r})"

    def latest(self, origin: str) -> Anchor | None:
        """The last checkpoint in the file (None if there is none yet)."""
        try:
            fd = os.open(self._path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise WitnessError(f"cannot read {self.name}: {exc}") from None
        try:
            with self._lock:
                fcntl.flock(fd, fcntl.LOCK_SH)
                return self._last(fd, origin)[0]
        except OSError as exc:
            raise WitnessError(f"cannot read {self.name}: {exc}") from None
        finally:
            os.close(fd)

    def anchor(self, checkpoint: Checkpoint, prove: ProveFn) -> Anchor:
        """Append ``checkpoint`` if it extends the last one (see the module docstring)."""
        with self._lock:
            fd = self._open_for_append()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                last, end = self._last(fd, checkpoint.origin)
                if last is not None:
                    if last.size > checkpoint.size:
                        return last  # seen more already (another writer, or entries lost)
                    if last.size == checkpoint.size:
                        if last.root != checkpoint.root:
                            raise WitnessConflict(
                                f"{self.name} holds another root for "
                                f"{last.size} entries: the ledger was rewritten (a fork)"
                            )
                        return last
                    if last.size > 0:
                        path = prove(last.size)
                        assert last.root is not None
                        if not verify_consistency(
                            last.size, checkpoint.size, last.root, checkpoint.root, path
                        ):
                            raise WitnessConflict(
                                f"the ledger of {checkpoint.size} entries does not extend the "
                                f"{last.size} anchored in {self.name}: entries were rewritten"
                            )
                if end is not None:
                    os.ftruncate(fd, end)  # a torn last line, never acknowledged
                line = json.dumps({"note": checkpoint.note}, separators=(",", ":")) + "\n"
                record = line.encode()
                os.write(fd, record)
                os.fsync(fd)
                anchor = Anchor(self.name, checkpoint.size, checkpoint.root, checkpoint.note)
                self._took_own(fd, record, anchor, checkpoint.origin)
                return anchor
            except OSError as exc:
                msg = f"cannot append to {self.name}: {exc}"
                raise WitnessError(msg) from None
            finally:
                os.close(fd)

    def _open_for_append(self) -> int:
        created = not self._path.exists()
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise WitnessError(f"cannot open {self.name}: {exc}") from None
        if created:
            os.fchmod(fd, 0o600)  # whatever the umask
            dir_fd = os.open(self._path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the new name survives a crash too
            finally:
                os.close(dir_fd)
        return fd

    def _last(self, fd: int, origin: str) -> tuple[Anchor | None, int | None]:
        """The largest complete record (see the module docstring), and where to cut a torn last
        line (None: nothing torn). The caller holds ``self._lock`` and a ``flock``."""
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != self._file_id or st.st_size < self._read:
            # another file, or this one cut shorter than what was read: read it all again
            self._file_id, self._read, self._best, self._top = (st.st_dev, st.st_ino), 0, None, None
        head = _record_head(origin)
        pending = b""
        at = self._read
        while at < st.st_size:
            data = os.pread(fd, min(_CHUNK, st.st_size - at), at)
            if not data:
                break
            at += len(data)
            lines = (pending + data).split(b"\n")
            pending = lines.pop()  # after the last newline: the next chunk's, or a torn line
            if len(pending) > _MAX_RECORD:
                raise WitnessError(f"{self.name} is malformed (a record without an end)")
            for record in lines:
                self._fold(record, head, origin)
                self._read += len(record) + 1
        if self._best is None and self._top is not None:
            self._best = self._parse(self._top[2], origin)
            if (self._best.size, base64.b64encode(self._best.root or b"")) != self._top[:2]:
                raise WitnessError(f"a record of {self.name} is malformed")
        best = self._best
        if best is not None and best.note is not None:
            held = checkpoint_fields(best.note)[0]
            if held != origin:  # read for one origin, now asked about another
                raise self._other_origin(held)
        cut = self._read if self._read < st.st_size else None
        return best, cut

    def _took_own(self, fd: int, record: bytes, anchor: Anchor, origin: str) -> None:
        """Count the record just appended as read (under the lock and the ``flock``), so the
        next append reads and parses nothing when no one else wrote in between. Only when the
        file ends exactly with it, right after what this instance had read; otherwise the next
        append reads on from where reading stopped, this record included."""
        if os.fstat(fd).st_size != self._read + len(record):
            return
        self._fold(record[:-1], _record_head(origin), origin)
        self._read += len(record)
        self._best = anchor

    def _other_origin(self, held: str) -> WitnessOriginConflict:
        return WitnessOriginConflict(
            f"{self.name} witnesses the ledger {held!r}, not this one",
            witness=self.name,
            pinned=held,
        )

    def _fold(self, record: bytes, head: bytes, origin: str) -> None:
        """Take one complete record into the largest so far. Its size and root are read off the
        bytes, without a JSON parse; only the largest is parsed in full."""
        size_text, _, rest = record[len(head) :].partition(b"\\n")
        if record.startswith(head) and size_text.isdigit() and len(size_text) < 20:
            size, root_text = int(size_text), rest.partition(b"\\n")[0]
        else:  # not in the writer's layout: parse it, so a bad or foreign record is named
            anchor = self._parse(record, origin)
            size, root_text = anchor.size, base64.b64encode(anchor.root or b"")
        top = self._top
        if top is not None and size == top[0] and root_text != top[1]:
            raise WitnessConflict(
                f"{self.name} holds two roots for {size} entries: the log was forked"
            )
        if top is None or size > top[0]:
            self._top, self._best = (size, root_text, record), None

    def _parse(self, record: bytes, origin: str) -> Anchor:
        try:
            note = json.loads(record)["note"]
            if not isinstance(note, str):
                raise TypeError
        except (ValueError, TypeError, KeyError):
            msg = f"a record of {self.name} is malformed"
            raise WitnessError(msg) from None
        name, size, root = checkpoint_fields(note)
        if name != origin:
            raise self._other_origin(name)
        return Anchor(self.name, size, root, note)


class DirectoryWitness:
    """A checkpoint log in a folder of its own (another volume), pinned to the one ledger it
    witnesses.

    The folder keeps ``witnessed-log.json`` (``0600``, fsynced), naming the ledger origin, which
    is written after the first anchor; ``origin=`` pins it in the configuration instead (or as
    well). A ledger of another origin is then a :class:`~sdk.errors.WitnessOriginConflict`,
    never a fresh, empty log: the origin comes from the keyring's editable ``id``, and whoever
    holds the keyring could otherwise start a new log here and roll the store back unseen. A
    pin whose log is gone is a conflict too. The log itself is a :class:`FileWitness` named
    after a hash of the origin.
    """

    PIN_FILE = "witnessed-log.json"

    def __init__(self, directory: str | os.PathLike[str], *, origin: str | None = None) -> None:
        self._dir = Path(directory)
        if not self._dir.is_dir():
            raise WitnessError(f"the witness folder {str(self._dir)!r} does not exist")
        self._origin = origin
        self._files: dict[str, FileWitness] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """``the witness folder <path>``, for messages."""
        return f"the witness folder {self._dir}"

    def __repr__(self) -> str:
        return f"DirectoryWitness({str(self._dir)!r})"

    def _log_path(self, origin: str) -> Path:
        digest = hashlib.sha256(origin.encode()).hexdigest()[:32]
        return self._dir / f"{digest}.witness.log"

    def _file(self, origin: str) -> FileWitness:
        with self._lock:
            found = self._files.get(origin)
            if found is None:
                found = self._files[origin] = FileWitness(self._log_path(origin))
            return found

    def pinned(self) -> str | None:
        """The origin this folder witnesses: the configured one, else the pin file's, else the
        origin of a log already in the folder (one written before pins existed); None for a
        folder that has witnessed nothing yet."""
        if self._origin is not None:
            return self._origin
        pin = self._dir / self.PIN_FILE
        try:
            raw = pin.read_bytes()
        except FileNotFoundError:
            return self._origin_of_a_log()
        except OSError as exc:
            raise WitnessError(f"cannot read the pin of {self.name}: {exc}") from None
        try:
            origin = json.loads(raw)["origin"]
            if not isinstance(origin, str) or not origin:
                raise TypeError
        except (ValueError, TypeError, KeyError):
            raise WitnessError(f"the pin of {self.name} is malformed") from None
        return origin

    def _origin_of_a_log(self) -> str | None:
        for log in sorted(self._dir.glob("*.witness.log")):
            try:
                with open(log, "rb") as handle:
                    first = handle.readline(_MAX_RECORD)
                return checkpoint_fields(json.loads(first)["note"])[0]
            except (OSError, ValueError, TypeError, KeyError, WitnessError):
                raise WitnessError(f"{self.name} holds a log that cannot be read") from None
        return None

    def _check(self, origin: str) -> bool:
        """Refuse another origin than the pinned one; True when a pin was already recorded."""
        pinned = self.pinned()
        if pinned is not None and pinned != origin:
            raise WitnessOriginConflict(
                f"{self.name} witnesses the ledger {pinned!r}, not {origin!r}: the keyring's "
                "id was changed, or another store was put in place",
                witness=self.name,
                pinned=pinned,
            )
        recorded = (self._dir / self.PIN_FILE).exists()
        if recorded and not self._log_path(origin).exists():
            raise WitnessConflict(
                f"{self.name} has witnessed the ledger {origin!r} but its log there is gone "
                "(deleted): the store cannot be checked against it"
            )
        return recorded

    def _record_pin(self, origin: str) -> None:
        pin = self._dir / self.PIN_FILE
        tmp = pin.with_name(f".{self.PIN_FILE}.{os.getpid()}.tmp")
        data = json.dumps({"origin": origin}).encode() + b"\n"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            if not pin.exists():  # another process may have pinned it meanwhile (the same)
                os.replace(tmp, pin)
            else:
                tmp.unlink()
            dir_fd = os.open(self._dir, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise WitnessError(f"cannot pin {self.name}: {exc}") from None

    def anchor(self, checkpoint: Checkpoint, prove: ProveFn) -> Anchor:
        """Append to the log of ``checkpoint.origin`` (see :meth:`FileWitness.anchor`) if it is
        the pinned one; the first anchor records the pin."""
        recorded = self._check(checkpoint.origin)
        held = self._file(checkpoint.origin).anchor(checkpoint, prove)
        if not recorded:  # after the log: a crash between leaves a log, which pinned() reads
            self._record_pin(checkpoint.origin)
        return held

    def latest(self, origin: str) -> Anchor | None:
        """The last checkpoint of ``origin`` in this folder (a conflict if it is pinned to
        another)."""
        self._check(origin)
        return self._file(origin).latest(origin)
