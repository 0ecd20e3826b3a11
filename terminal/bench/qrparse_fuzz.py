"""Input generators for fuzzing the payment-QR parser: seeds, mutations and TLV-aware edits."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from payments.qr.crc import crc_hex
from payments.qr.model import QRPayloadError
from payments.qr.tlv import parse_objects
from terminal.shared_data import shared_root

Input = str | bytes


def shared_vectors() -> Path | None:
    """The shared vectors file, when present (``SCANPAY_SHARED``, default ``../shared``)."""
    path = shared_root() / "data" / "payment-qr" / "vectors.jsonl"
    return path if path.is_file() else None


def _seal(body: str) -> str:
    return body + "6304" + crc_hex(body + "6304")


def builtin_seeds() -> list[str]:
    """Seeds that need no shared data: one code of every family the parser knows."""
    from payments.money import Money
    from payments.qr.generate import MerchantAccount, make_dynamic_mpm

    shop = MerchantAccount("Noodle Bar", "Shanghai", "CN", "io.scanpay", "M0001")
    cpm = bytes.fromhex("85054350563031611A4F07A0000000555555570F1234567890123458D191220112345F")
    return [
        make_dynamic_mpm(shop, Money(1250, "CNY"), "ORD1", 1_795_000_000),
        "00020101021229370016A000000677010111011300660000000005802TH530376454044.226304E469",
        _seal("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039"
              "865802BR5913Fulano de Tal6008BRASILIA62070503***"),
        _seal("00020101021264200002ZH0104最佳运输0202北京26200010io.scanpay0102M1520458145303156"
              "5802CN5904NAME6004CITY"),
        base64.b64encode(cpm).decode(),
        "upi://pay?pa=merchant@okhdfcbank&pn=Merchant+Store&am=499.00&cu=INR&tn=Order+42",
        "https://qr.alipay.com/fkx07120vzhsliuln927l74",
        "wxp://f2f067yve_yNrmWOKjAmyEeuYcStPZXhjpud",
        "134567890123456789",
    ]


def load_seeds() -> list[str]:
    """Built-in seeds plus every payload of the shared vectors when they are present."""
    seeds = builtin_seeds()
    path = shared_vectors()
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                seeds.append(json.loads(line)["payload"])
    return seeds


def _random_bytes(rnd: random.Random, seeds: list[str]) -> Input:
    return rnd.randbytes(rnd.randint(0, 600))


def _byte_mutation(rnd: random.Random, seeds: list[str]) -> Input:
    data = bytearray(rnd.choice(seeds).encode("utf-8"))
    for _ in range(rnd.randint(1, 8)):
        op = rnd.randrange(4)
        pos = rnd.randint(0, len(data))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = rnd.getrandbits(8)
        elif op == 1:
            data[pos:pos] = rnd.randbytes(rnd.randint(1, 4))
        elif op == 2:
            del data[pos:pos + rnd.randint(1, 8)]
        else:
            data[pos:pos] = bytes([rnd.choice(b"0123456789")]) * rnd.randint(1, 4)
    return bytes(data)


def _char_mutation(rnd: random.Random, seeds: list[str]) -> Input:
    text = list(rnd.choice(seeds))
    for _ in range(rnd.randint(1, 4)):
        pos = rnd.randint(0, len(text))
        char = chr(rnd.choice((rnd.randint(0x20, 0x7E), rnd.randint(0, 0x10FFFF))))
        if rnd.random() < 0.5 and text:
            text[min(pos, len(text) - 1)] = char
        else:
            text.insert(pos, char)
    return "".join(text)


def _random_value(rnd: random.Random) -> str:
    pool = ("0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZ abc.@-*", "最佳运输北京", "👀é")
    alphabet = rnd.choice(pool)
    return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))


def _tlv_mutation(rnd: random.Random, seeds: list[str]) -> Input:
    seed = rnd.choice(seeds)
    try:
        objects = [(o.id, o.value) for o in parse_objects(seed, 0, len(seed))][:-1]
    except (QRPayloadError, ValueError):
        objects = []
    if not objects:
        objects = [("00", "01")]
    for _ in range(rnd.randint(1, 4)):
        op = rnd.randrange(7)
        i = rnd.randrange(len(objects))
        tag, value = objects[i]
        if op == 0:
            objects[i] = (f"{rnd.randint(0, 99):02d}", value)
        elif op == 1:
            objects[i] = (tag, _random_value(rnd))
        elif op == 2:
            objects.insert(i, (f"{rnd.randint(0, 99):02d}", _random_value(rnd)))
        elif op == 3 and len(objects) > 1:
            del objects[i]
        elif op == 4:
            objects.append(objects[i])
        elif op == 5:
            inner = "".join(f"{rnd.randint(0, 99):02d}{len(v):02d}{v}"
                            for v in (_random_value(rnd) for _ in range(rnd.randint(0, 4))))
            objects[i] = (tag, inner)
        else:
            rnd.shuffle(objects)
    parts = []
    for tag, value in objects:
        length = len(value) if rnd.random() < 0.9 else rnd.randint(0, 99)
        parts.append(f"{tag}{min(length, 99):02d}{value}")
    body = "".join(parts)
    return _seal(body) if rnd.random() < 0.85 else body + f"6304{rnd.getrandbits(16):04X}"


def _cpm_mutation(rnd: random.Random, seeds: list[str]) -> Input:
    data = bytearray(b"\x85\x05CPV01")
    for _ in range(rnd.randint(1, 5)):
        tag = rnd.choice((b"\x61", b"\x62", b"\x63", b"\x64", b"\x4f", b"\x5a", b"\x9f\x26",
                          b"\x5f\x20", b"\x9f", b"\xff", bytes([rnd.getrandbits(8)])))
        value = rnd.randbytes(rnd.randint(0, 300))
        n = len(value)
        length = rnd.choice((bytes([n & 0xFF]), b"\x81" + bytes([n & 0xFF]),
                             b"\x82" + n.to_bytes(2, "big"), bytes([0x80 | rnd.randint(0, 127)])))
        data += tag + length + value
        if rnd.random() < 0.3:
            data = bytearray(b"\x61" + bytes([min(len(data), 127)]) + data)
    return base64.b64encode(bytes(data)).decode()


def _splice(rnd: random.Random, seeds: list[str]) -> Input:
    a, b = rnd.choice(seeds), rnd.choice(seeds)
    return a[:rnd.randint(0, len(a))] + b[rnd.randint(0, len(b)):]


MUTATORS: dict[str, Callable[[random.Random, list[str]], Input]] = {
    "random-bytes": _random_bytes, "byte-mutation": _byte_mutation,
    "char-mutation": _char_mutation, "tlv-structure": _tlv_mutation,
    "cpm-structure": _cpm_mutation, "splice": _splice,
}
_WEIGHTS = (1, 3, 2, 3, 1, 1)


def fuzz_inputs(count: int, seed: int, seeds: list[str]) -> Iterator[tuple[str, Input]]:
    """``count`` fuzz inputs as ``(mutator name, input)``, reproducible from ``seed``."""
    rnd = random.Random(seed)
    names = list(MUTATORS)
    for _ in range(count):
        name = rnd.choices(names, _WEIGHTS)[0]
        yield name, MUTATORS[name](rnd, seeds)
