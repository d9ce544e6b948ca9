"""The signing key in an HSM (PKCS#11, SoftHSM2's real module and token files): checkpoints,
exports and receipts are signed by the token, the private key cannot be read out of it, and the
keyring holder cannot re-sign a rewritten history.

The token is made by ``softhsm2-util`` (a separate process) in a folder of the test's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import tamper

pytest.importorskip("pkcs11")

import pkcs11

from sdk import Personalizer
from sdk.audit import verify_export
from sdk.crypto.keyring import Keyring
from sdk.crypto.pkcs11 import Pkcs11Signer
from sdk.errors import KeyProviderError, LedgerIntegrityError, SigningKeyMismatch
from sdk.ledger import open_checkpoint, sign_checkpoint
from sdk.ledger.merkle import MerkleTree
from sdk.ledger.verify import encode_head
from sdk.ledger.witness_file import default_witness_path

LIBRARY = Path("/usr/lib/softhsm/libsofthsm2.so")
TOKEN, PIN = "whylens-tests", "4711"
ROOT = Path(__file__).resolve().parents[2]

if not LIBRARY.exists():  # .ci/run installs Debian's softhsm2
    pytest.skip("SoftHSM2 is not installed (apt-get install softhsm2)", allow_module_level=True)


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One initialised token for the module (a PKCS#11 module is initialised once per process,
    with the configuration it found then)."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", TOKEN, "--pin", PIN,
         "--so-pin", "0000"],
        check=True, capture_output=True,
    )
    yield conf
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


def _new_signer(label: str) -> Pkcs11Signer:
    return Pkcs11Signer.generate(LIBRARY, token_label=TOKEN, key_label=label, pin=PIN)


def _open_signer(label: str) -> Pkcs11Signer:
    return Pkcs11Signer(LIBRARY, token_label=TOKEN, key_label=label, pin=PIN)


def test_the_token_signs_and_a_pinned_verifier_accepts(
    store_url: str, keyring_path: Path, tmp_path: Path, token: Path
) -> None:
    signer = _new_signer(f"k-{os.urandom(4).hex()}")
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=signer) as p:
        p.consent.grant("cust-1", "personalization")
        assert p.ledger.public_key == signer.public_key_bytes() != p.keyring.public_key_bytes()
        open_checkpoint(p.ledger.checkpoint().note, signer.public_key_bytes(),
                        origin=p.ledger.origin)
        export = tmp_path / "export"
        p.audit.export(export, format="jsonl")
        assert p.audit.verify().ok
    assert verify_export(export, trust=signer.public_key_bytes()).ok
    keyring_key = Keyring.load(keyring_path).public_key_bytes()
    assert not verify_export(export, trust=keyring_key).ok


def test_the_private_key_never_leaves_the_token(token: Path) -> None:
    from pkcs11 import Attribute, ObjectClass
    from pkcs11.exceptions import AttributeSensitive

    label = f"k-{os.urandom(4).hex()}"
    _new_signer(label).close()
    lib = pkcs11.lib(str(LIBRARY))
    with lib.get_token(token_label=TOKEN).open() as session:  # this process is logged in
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=label)
        assert key[Attribute.SENSITIVE] and not key[Attribute.EXTRACTABLE]
        with pytest.raises(AttributeSensitive):
            key[Attribute.VALUE]
    with pytest.raises(KeyProviderError, match="already holds"):
        _new_signer(label)
    with pytest.raises(KeyProviderError):
        _open_signer("no-such-key")
    # a wrong PIN, in a process not logged in yet (PKCS#11 logs in a process, not a session)
    wrong = subprocess.run(
        [sys.executable, "-c", _WRONG_PIN, str(ROOT), str(LIBRARY), TOKEN, label],
        capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SOFTHSM2_CONF": str(token)},
    )
    assert wrong.returncode == 3, wrong.stderr
    assert "cannot open" in wrong.stdout and "0000-wrong" not in wrong.stdout


_WRONG_PIN = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sdk.crypto.pkcs11 import Pkcs11Signer
from sdk.errors import KeyProviderError
try:
    Pkcs11Signer(sys.argv[2], token_label=sys.argv[3], key_label=sys.argv[4], pin="0000-wrong")
except KeyProviderError as exc:
    print(exc)
    sys.exit(3)
"""


def test_keyring_or_another_key_is_refused(
    store_url: str, keyring_path: Path, tmp_path: Path, token: Path
) -> None:
    label = f"k-{os.urandom(4).hex()}"
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=_new_signer(label)) as p:
        p.consent.grant("cust-1", "personalization")
    with pytest.raises(SigningKeyMismatch):
        Personalizer.open(store_url, keyring=keyring_path)  # the keyring's own key
    with pytest.raises(SigningKeyMismatch):
        Personalizer.open(store_url, keyring=keyring_path, signing_key=tmp_path / "file.key")
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=_open_signer(label)) as p:
        assert p.audit.verify().ok  # the same token key, opened again


def test_the_keyring_holder_cannot_re_sign_with_the_key_in_the_token(
    store_url: str, keyring_path: Path, token: Path
) -> None:
    label = f"k-{os.urandom(4).hex()}"
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=_new_signer(label)) as p:
        p.consent.grant("cust-1", "personalization")
        kept = p.ledger.size
        p.consent.withdraw("cust-1", "personalization")
        origin = p.ledger.origin
    ring = Keyring.load(keyring_path)
    tamper(store_url, "DELETE FROM ledger WHERE seq > ?", (kept,))
    tamper(store_url, "DELETE FROM ledger_leaves WHERE seq > ?", (kept,))
    last = bytes(tamper(store_url, "SELECT hash FROM ledger WHERE seq = ?", (kept,))[0][0])  # type: ignore[arg-type]
    leaves = [bytes(r[0]) for r in tamper(store_url, "SELECT leaf FROM ledger_leaves ORDER BY seq")]  # type: ignore[arg-type]
    cp = sign_checkpoint(origin, kept, MerkleTree(leaves).root(), ring)
    sql = "UPDATE whylens_meta SET value = ? WHERE key = ?"
    tamper(store_url, sql, (encode_head(ring.mac_key, kept, last.hex()), "ledger_head"))
    tamper(store_url, sql, (cp.note, "ledger_checkpoint"))
    default_witness_path(keyring_path).unlink()
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=_open_signer(label)) as p:
        report = p.audit.verify()
        assert not report.ok and "checkpoint does not verify" in (report.problem or "")
        with pytest.raises(LedgerIntegrityError):
            p.consent.grant("cust-2", "personalization")


_CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
from sdk import Personalizer
from sdk.crypto.pkcs11 import Pkcs11Signer
lib, token, label, pin, store, ring = sys.argv[2:8]
signer = Pkcs11Signer(lib, token_label=token, key_label=label, pin=pin)
with Personalizer.open(store, keyring=ring, signing_key=signer) as p:
    for i in range(5):
        p.consent.grant(f"child-{i}", "personalization")
    print(p.ledger.size)
"""


def test_a_second_process_signs_with_the_same_token_key(
    store_url: str, keyring_path: Path, token: Path
) -> None:
    label = f"k-{os.urandom(4).hex()}"
    signer = _new_signer(label)
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=signer) as p:
        p.consent.grant("cust-1", "personalization")
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(LIBRARY), TOKEN, label, PIN, store_url,
         str(keyring_path)],
        check=True, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "SOFTHSM2_CONF": str(token)},
    )
    size = int(out.stdout.strip())
    with Personalizer.open(store_url, keyring=keyring_path, signing_key=signer) as p:
        assert p.ledger.size == size
        assert p.audit.verify().ok
        open_checkpoint(p.ledger.checkpoint().note, signer.public_key_bytes())
