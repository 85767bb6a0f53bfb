#!/usr/bin/env python3
"""Checks signatures made by crates/epistula with the reference Python tooling.

Verifies, with `bittensor-wallet` `Keypair.verify` (the call reference Epistula receivers
make): plain signatures, Epistula v2 request headers (rebuilding the signed message
`sha256(body).uuid.timestamp.signed_for` as a receiver does);
then loads the hotkey file written by our `wallet::create_hotkey` with `Wallet` and checks
the address. Exits non-zero on any failure.

Run from the repository root (see make_fixtures.py for the virtualenv):
    cargo run -p brainlock-epistula --example interop_sign -- /tmp/epistula-interop
    scripts/.venv-interop/bin/python scripts/interop/verify_rust_signatures.py /tmp/epistula-interop
"""

import hashlib
import json
import sys
from pathlib import Path

from bittensor_wallet import Keypair, Wallet

CRYPTO = {"sr25519": 1, "ed25519": 0}


def check(label: str, ok: bool, failures: list) -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {label}")
    if not ok:
        failures.append(label)


def verifier(ss58: str, scheme: str) -> Keypair:
    return Keypair(ss58_address=ss58, crypto_type=CRYPTO[scheme])


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    document = json.loads((Path(sys.argv[1]) / "rust_signatures.json").read_text())
    failures: list = []

    for entry in document["signatures"]:
        pair = verifier(entry["ss58"], entry["scheme"])
        good = pair.verify(entry["message"], entry["signature"])
        forged = pair.verify(entry["message"] + "!", entry["signature"])
        check(f"{entry['scheme']} signature over {entry['message']!r}", good and not forged, failures)

    for entry in document["requests"]:
        headers = entry["headers"]
        body = bytes.fromhex(entry["body_hex"])
        message = (
            f"{hashlib.sha256(body).hexdigest()}.{headers['epistula-uuid']}."
            f"{headers['epistula-timestamp']}.{headers['epistula-signed-for']}"
        )
        pair = verifier(headers["epistula-signed-by"], entry["scheme"])
        good = headers["epistula-version"] == "2" and pair.verify(
            message, headers["epistula-request-signature"]
        )
        check(f"{entry['scheme']} Epistula request, {len(body)}-byte body", good, failures)

    hotkey = document["hotkey"]
    wallet = Wallet(name=hotkey["wallet"], hotkey=hotkey["hotkey"], path=hotkey["wallets_dir"])
    loaded = wallet.hotkey
    check(
        f"hotkey file from wallet::create_hotkey loads in bittensor-wallet as {loaded.ss58_address}",
        loaded.ss58_address == hotkey["ss58"] and loaded.verify("x", loaded.sign("x")),
        failures,
    )

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
