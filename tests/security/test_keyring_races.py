"""Two processes on one keyring file: neither may lose the other's key-encryption keys.

Found by an attacker review: ``retire_keks`` saved a stale in-memory copy of the file (no lock,
no re-read), so a process opened before another one rotated wrote the new KEK out of the file and
every data key wrapped under it became unreadable; and a process opened before a rotation went
on wrapping new data keys under the old KEK, which the rotation schedule later destroys.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

from sdk import Personalizer

_OTHER = textwrap.dedent(
    """
    import sys
    from sdk import Personalizer
    db, action = sys.argv[1], sys.argv[2]
    with Personalizer.open(db) as p:
        print("ready", flush=True)
        sys.stdin.readline()  # the test rotates in its own process meanwhile
        if action == "retire":
            p.keyring.retire_keks(1)
        else:
            p.profiles.put("late-writer", {"email": "late@example.org"})
        print("done", flush=True)
    """
)


def _other(db: Path, action: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _OTHER, str(db), action],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _finish(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("go\n")
    proc.stdin.flush()
    assert proc.stdout.readline().strip() == "done"
    assert proc.wait(timeout=60) == 0


def test_a_stale_process_retiring_keks_keeps_another_process_rotation(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with Personalizer.open(db) as p:
        p.profiles.put("before", {"email": "before@example.org"})
    other = _other(db, "retire")  # opened before the rotation
    with Personalizer.open(db) as p:
        version = p.keyring.rotate_kek()
        p.keys.rewrap_all()
        p.profiles.put("after", {"email": "after@example.org"})
    _finish(other)
    with Personalizer.open(db) as fresh:
        assert version in fresh.keyring.kek_versions
        assert fresh.profiles.get("after")["email"] == "after@example.org"
        assert fresh.profiles.get("before")["email"] == "before@example.org"


def test_a_process_opened_before_a_rotation_wraps_under_the_new_kek(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with Personalizer.open(db) as p:
        p.profiles.put("before", {"email": "before@example.org"})
    other = _other(db, "write")  # the app server, opened before the key job ran
    with Personalizer.open(db) as job:
        report = job.keys.rotate(retain=timedelta(0))
        assert report.kek_version == 2 and report.destroyed == (1,)
    _finish(other)
    with Personalizer.open(db) as fresh:
        # its new data key is under KEK 2: nothing is wrapped under the destroyed version
        assert fresh.keys.count_below_kek(2) == 0
        assert fresh.profiles.get("late-writer")["email"] == "late@example.org"
