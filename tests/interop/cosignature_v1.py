#!/usr/bin/env python3
"""An independent verifier of C2SP tlog-cosignature `cosignature/v1` (timestamped Ed25519),
written from the specifications (c2sp.org/tlog-cosignature, c2sp.org/signed-note), with the
standard library and the `cryptography` package only: it shares no code with loopgate.

    cosignature_v1.py WITNESS_VKEY NOTE_FILE

WITNESS_VKEY is `<name>+<hex key id>+<base64(0x04 || 32-byte Ed25519 public key)>`; NOTE_FILE
is a signed checkpoint note carrying signature lines. Exit 0 and print `ok: time <t>` when a
line by that witness verifies; exit 1 with the reason otherwise; exit 2 on bad usage.
"""

import base64
import hashlib
import struct
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

COSIGNATURE_V1 = 0x04


def fail(why):
    print(f"fail: {why}")
    sys.exit(1)


def parse_vkey(text):
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        fail("the verifier key is not <name>+<hex id>+<base64 key>")
    name, hex_id, b64 = parts
    data = base64.b64decode(b64, validate=True)
    if len(data) != 33 or data[0] != COSIGNATURE_V1:
        fail("the verifier key is not a cosignature/v1 Ed25519 key (type 0x04, 32 bytes)")
    public = data[1:]
    # key ID = SHA-256(name || 0x0A || 0x04 || public key)[:4]
    key_id = hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_V1]) + public).digest()[:4]
    if key_id.hex() != hex_id.lower():
        fail(f"the key id {hex_id} does not match the key ({key_id.hex()})")
    return name, key_id, Ed25519PublicKey.from_public_bytes(public)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    name, key_id, public = parse_vkey(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        note = f.read().decode("utf-8")
    # The text is separated from the signatures by the last blank line.
    split = note.rfind("\n\n")
    if split < 0:
        fail("not a signed note")
    body, signatures = note[: split + 1], note[split + 2 :]
    if not signatures.endswith("\n"):
        fail("the signature block does not end with a newline")
    for line in signatures[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            fail(f"malformed signature line {line!r}")
        line_name, _, b64 = line[2:].partition(" ")
        data = base64.b64decode(b64, validate=True)
        if line_name != name or data[:4] != key_id:
            continue  # another key's line: ignored
        if len(data) != 4 + 8 + 64:
            fail("a cosignature/v1 signature is 8 bytes of time and 64 of Ed25519")
        (timestamp,) = struct.unpack(">Q", data[4:12])
        message = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode("utf-8")
        try:
            public.verify(data[12:], message)
        except InvalidSignature:
            fail(f"the cosignature by {name} does not verify")
        if timestamp == 0 or timestamp >= 2**63:
            fail(f"the timestamp {timestamp} is out of range")
        print(f"ok: time {timestamp}")
        return
    fail(f"no signature line by {name}")


if __name__ == "__main__":
    main()
