"""Writing key files safely: mode 0600 from the first byte, fsynced, atomically in place."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from ..errors import KeyringError

__all__ = ["replace_file", "write_new_file"]


def write_new_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file at ``path`` atomically, mode 0600, never replacing a file."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
    except OSError as exc:
        raise KeyringError(
            f"cannot create keyring file in {str(path.parent)!r}: {exc.strerror or exc}. Check "
            "the folder exists and is writable."
        ) from exc
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                if os.name == "posix":
                    os.fchmod(f.fileno(), 0o600)  # the umask can only remove bits; be explicit
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            _link_no_replace(tmp, path)
        except FileExistsError:
            raise KeyringError(
                f"keyring file {str(path)!r} appeared while a new one was being written; the "
                "existing file was left untouched."
            ) from None
        except OSError as exc:
            raise KeyringError(
                f"cannot write keyring file {str(path)!r}: {exc.strerror or exc}"
            ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def replace_file(path: Path, data: bytes) -> None:
    """Atomically replace the keyring at ``path`` with ``data`` (mode 0600, fsynced)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "wb") as f:
            if os.name == "posix":
                os.fchmod(f.fileno(), 0o600)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise KeyringError(
            f"cannot save keyring file {str(path)!r}: {exc.strerror or exc}; the previous file "
            "is unchanged"
        ) from exc
    _fsync_dir(path.parent)


def _link_no_replace(tmp: Path, path: Path) -> None:
    # A hard link is an atomic "rename unless the target exists"; fall back to rename on
    # filesystems without hard links (the exists() check in create() then guards the target).
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError:
        if path.exists():
            raise FileExistsError(str(path)) from None
        os.rename(tmp, path)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
