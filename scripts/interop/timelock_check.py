#!/usr/bin/env python3
"""Timelock interop between crates/timelock and the reference `bittensor-drand`.

`bittensor-drand` (PyPI) is what Bittensor validators use to timelock-encrypt commit-reveal
weights to a drand quicknet round. Both directions are checked offline with a real,
published quicknet signature (round 1000, kept in crates/timelock/tests/fixtures/).

Setup (once; the virtualenv is gitignored):

    python3 -m venv scripts/.venv-timelock
    scripts/.venv-timelock/bin/pip install bittensor-drand      # 2.0.0 when written

Python encrypts, Rust decrypts (rewrites the committed fixture, then run the Rust tests):

    scripts/.venv-timelock/bin/python scripts/interop/timelock_check.py make-fixture
    cargo test -p brainlock-timelock

Rust encrypts, Python decrypts:

    cargo run -p brainlock-timelock --example timelock_encrypt -- 1000 "hello from rust" /tmp/tlock.hex
    scripts/.venv-timelock/bin/python scripts/interop/timelock_check.py check \
        /tmp/tlock.hex --expect "hello from rust"

`bittensor_drand.encrypt_at_round` returns, and `decrypt_with_signature` expects, the raw
timelock ciphertext wrapped in a SCALE `UserData { encrypted_data: Vec<u8>, reveal_round: u64 }`;
this script strips / adds that wrapper so the files hold the raw ciphertext (what
`encrypt_and_compress` produces and crates/timelock reads and writes).
"""

import argparse
import sys
from pathlib import Path

import bittensor_drand

FIXTURES = Path(__file__).resolve().parents[2] / "crates" / "timelock" / "tests" / "fixtures"
SIGNATURE_FILE = FIXTURES / "quicknet_round_1000_signature.hex"
PYTHON_CIPHERTEXT_FILE = FIXTURES / "bittensor_drand_round_1000_ciphertext.hex"
FIXTURE_ROUND = 1000
FIXTURE_MESSAGE = b"brainlock timelock interop: encrypted by bittensor-drand"


def scale_compact(n: int) -> bytes:
    """SCALE compact encoding of a non-negative integer (length prefix of a Vec)."""
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    body = n.to_bytes((n.bit_length() + 7) // 8, "little")
    return bytes([((len(body) - 4) << 2) | 3]) + body


def read_scale_compact(data: bytes) -> tuple[int, int]:
    """Returns (value, bytes consumed)."""
    mode = data[0] & 3
    if mode == 0:
        return data[0] >> 2, 1
    if mode == 1:
        return int.from_bytes(data[:2], "little") >> 2, 2
    if mode == 2:
        return int.from_bytes(data[:4], "little") >> 2, 4
    size = (data[0] >> 2) + 4
    return int.from_bytes(data[1 : 1 + size], "little"), 1 + size


def wrap_user_data(ciphertext: bytes, reveal_round: int) -> bytes:
    return scale_compact(len(ciphertext)) + ciphertext + reveal_round.to_bytes(8, "little")


def unwrap_user_data(user_data: bytes) -> tuple[bytes, int]:
    length, offset = read_scale_compact(user_data)
    ciphertext = user_data[offset : offset + length]
    rest = user_data[offset + length :]
    if len(ciphertext) != length or len(rest) != 8:
        raise ValueError("not a SCALE UserData")
    return ciphertext, int.from_bytes(rest, "little")


def read_hex(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())


def make_fixture(_args: argparse.Namespace) -> int:
    user_data, reveal_round = bittensor_drand.encrypt_at_round(FIXTURE_MESSAGE, FIXTURE_ROUND)
    ciphertext, wrapped_round = unwrap_user_data(user_data)
    assert reveal_round == wrapped_round == FIXTURE_ROUND
    # The reference must be able to open its own fixture with the committed signature.
    signature_hex = SIGNATURE_FILE.read_text().strip()
    assert bittensor_drand.decrypt_with_signature(user_data, signature_hex) == FIXTURE_MESSAGE
    PYTHON_CIPHERTEXT_FILE.write_text(ciphertext.hex() + "\n")
    print(f"wrote {PYTHON_CIPHERTEXT_FILE} ({len(ciphertext)} bytes, round {FIXTURE_ROUND})")
    return 0


def check(args: argparse.Namespace) -> int:
    ciphertext = read_hex(Path(args.ciphertext))
    signature_hex = Path(args.signature).read_text().strip()
    user_data = wrap_user_data(ciphertext, args.round)
    try:
        plaintext = bittensor_drand.decrypt_with_signature(user_data, signature_hex)
    except ValueError as error:
        print(f"FAILURE: bittensor-drand could not decrypt: {error}")
        return 1
    if args.expect is not None and plaintext != args.expect.encode():
        print(f"FAILURE: decrypted {plaintext!r}, expected {args.expect.encode()!r}")
        return 1
    print(f"ok: bittensor-drand decrypted {len(ciphertext)}-byte ciphertext to {plaintext!r}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("make-fixture", help="Python encrypts the Rust test fixture")
    check_parser = commands.add_parser("check", help="Python decrypts a Rust ciphertext")
    check_parser.add_argument("ciphertext", help="file with the raw ciphertext in hex")
    check_parser.add_argument("--signature", default=str(SIGNATURE_FILE))
    check_parser.add_argument("--round", type=int, default=FIXTURE_ROUND)
    check_parser.add_argument("--expect", help="plaintext the ciphertext must decrypt to")
    args = parser.parse_args()
    return make_fixture(args) if args.command == "make-fixture" else check(args)


if __name__ == "__main__":
    sys.exit(main())
