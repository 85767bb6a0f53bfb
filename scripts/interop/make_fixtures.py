#!/usr/bin/env python3
"""Writes the Epistula interop fixtures of crates/epistula with the reference tooling.

Everything here is signed by Python `bittensor-wallet` (`Keypair.sign`), the library
Bittensor neurons and the live subnet use, with throwaway keys generated for the fixtures
(TEST ONLY: never fund or register them). The Rust tests then check that our code
verifies these signatures and loads these hotkey files to the same addresses.

Run from the repository root:
    python3 -m venv scripts/.venv-interop
    scripts/.venv-interop/bin/pip install bittensor-wallet
    scripts/.venv-interop/bin/python scripts/interop/make_fixtures.py
"""

import hashlib
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import bittensor_wallet
from bittensor_wallet import Keypair, Wallet
from bittensor_wallet.keyfile import serialized_keypair_to_keyfile_data

FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "epistula" / "tests" / "fixtures"
SR25519, ED25519 = 1, 0
SCHEMES = {SR25519: "sr25519", ED25519: "ed25519"}


def epistula_headers(keypair: Keypair, body: bytes, signed_for: str) -> dict:
    """The headers a reference (fiber / Targon style) Epistula v2 sender attaches."""
    timestamp = int(time.time() * 1000)
    request_uuid = str(uuid.uuid4())
    message = f"{hashlib.sha256(body).hexdigest()}.{request_uuid}.{timestamp}.{signed_for}"
    return {
        "Epistula-Version": "2",
        "Epistula-Timestamp": str(timestamp),
        "Epistula-Uuid": request_uuid,
        "Epistula-Signed-By": keypair.ss58_address,
        "Epistula-Signed-For": signed_for,
        "Epistula-Request-Signature": "0x" + keypair.sign(message.encode()).hex(),
    }


def write_json(name: str, value) -> None:
    path = FIXTURES / name
    path.write_text(json.dumps(value, indent=2) + "\n")
    print(f"wrote {path.relative_to(FIXTURES.parents[3])}")


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    senders = {
        scheme: Keypair.create_from_mnemonic(Keypair.generate_mnemonic(), crypto_type=scheme)
        for scheme in SCHEMES
    }
    receiver = Keypair.create_from_mnemonic(Keypair.generate_mnemonic())

    messages = ["hello", "", "épistula ✓", "a" * 300]
    signatures = [
        {
            "scheme": SCHEMES[scheme],
            "ss58": pair.ss58_address,
            "public_key": "0x" + pair.public_key.hex(),
            "message": message,
            "signature": "0x" + pair.sign(message).hex(),
        }
        for scheme, pair in senders.items()
        for message in messages
    ]
    for entry in signatures:
        assert senders[SR25519 if entry["scheme"] == "sr25519" else ED25519].verify(
            entry["message"], entry["signature"]
        )

    bodies = [b"", b'{"circuit":"conv3x3","inputs":[1,2,3]}', bytes(range(256)) * 4]
    requests = [
        {
            "scheme": SCHEMES[scheme],
            "body_hex": body.hex(),
            "headers": epistula_headers(pair, body, receiver.ss58_address),
        }
        for scheme, pair in senders.items()
        for body in bodies
    ]

    write_json(
        "python_signatures.json",
        {
            "note": "TEST ONLY keys. Written by scripts/interop/make_fixtures.py with "
            f"bittensor-wallet {bittensor_wallet.__version__ if hasattr(bittensor_wallet, '__version__') else ''}",
            "signatures": signatures,
        },
    )
    write_json(
        "python_epistula_requests.json",
        {
            "note": "TEST ONLY keys. Epistula v2 requests signed by bittensor-wallet Keypair.sign",
            "receiver": receiver.ss58_address,
            "requests": requests,
        },
    )

    # Hotkey files exactly as bittensor-wallet writes them, in the wallet layout.
    wallets = FIXTURES / "wallets"
    shutil.rmtree(wallets, ignore_errors=True)
    with tempfile.TemporaryDirectory() as scratch:
        wallet = Wallet(name="epistula-test", hotkey="test-only-sr25519", path=scratch)
        wallet.create_new_hotkey(n_words=12, use_password=False, overwrite=True, suppress=True)
        shutil.copytree(Path(scratch) / "epistula-test", wallets / "epistula-test")
    hotkeys = wallets / "epistula-test" / "hotkeys"
    created = json.loads((hotkeys / "test-only-sr25519").read_text())

    # The same key with only its phrase (as some older tools write), to check that the
    # phrase derivation matches the reference.
    phrase_only = {k: v for k, v in created.items() if k not in ("secretSeed", "privateKey")}
    (hotkeys / "test-only-phrase-only").write_text(json.dumps(phrase_only))

    ed_pair = Keypair.create_from_mnemonic(Keypair.generate_mnemonic(), crypto_type=ED25519)
    (hotkeys / "test-only-ed25519").write_bytes(serialized_keypair_to_keyfile_data(ed_pair))

    write_json(
        "python_hotkeys.json",
        {
            "note": "TEST ONLY. Addresses bittensor-wallet reports for the hotkey files under wallets/",
            "wallet": "epistula-test",
            "hotkeys": {
                "test-only-sr25519": Wallet(
                    name="epistula-test", hotkey="test-only-sr25519", path=str(wallets)
                ).hotkey.ss58_address,
                "test-only-phrase-only": created["ss58Address"],
                "test-only-ed25519": ed_pair.ss58_address,
            },
        },
    )


if __name__ == "__main__":
    main()
