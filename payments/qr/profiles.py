"""Scheme profiles for merchant-presented codes: what each scheme relaxes and what it adds.

A profile is chosen from the payload itself (the GUIs in the account templates, then the
country), never from the caller. The generic EMVCo rules live in ``payments.qr.rules``; a
profile switches some of them off (PromptPay and VietQR leave out 52/59/60) and adds its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from payments.qr import pix
from payments.qr.model import QRPayloadError, Violation
from payments.qr.tlv import parse_objects

# A read-only view of one parsed payload for the scheme checks: tag path -> value / offset.
Check = Callable[[dict[str, str], dict[str, int], str], list[Violation]]


@dataclass(frozen=True)
class Profile:
    """What one scheme requires beyond, or instead of, the generic EMVCo rules."""

    scheme: str
    relaxed_mandatory: frozenset[str] = frozenset()
    format_indicators: frozenset[str] = frozenset({"01"})
    allow_rfu_ids: bool = False
    unreserved_needs_gui: bool = True
    max_chars: int | None = None
    currencies: frozenset[str] | None = None
    country: str | None = None
    extra: Check | None = None
    # A template 80-99 with this GUI counts as the merchant account (Pix Automatico).
    unreserved_account_gui: str | None = None


def _v(code: str, message: str, tags: dict[str, str], offsets: dict[str, int],
       path: str | None) -> Violation:
    return Violation("scheme", code, message, tag=path,
                     offset=offsets.get(path) if path is not None else None)


def _templates_with_gui(tags: dict[str, str], gui: str) -> list[str]:
    gui = gui.upper()
    out = []
    for path, value in tags.items():
        if path.endswith(".00") and path.count(".") == 1 and value.upper() == gui:
            out.append(path[:-3])
    return out


# --- Pix (Brazil) -----------------------------------------------------------------------------

def _pix(tags: dict[str, str], offsets: dict[str, int], text: str) -> list[Violation]:
    out = []
    accounts = pix.account_roots(tags)
    has_target = any(f"{r}.01" in tags or f"{r}.25" in tags
                     for r in accounts + pix.recurrence_roots(tags))
    if not has_target:  # a Pix Automatico code may keep its only location in 80-99
        out.append(_v("pix_no_key", "a Pix account needs a key (01) or a location URL (25)",
                      tags, offsets, accounts[0] if accounts else None))
    for path, value in tags.items():
        if path.endswith(".25") and value.lower().startswith(("http://", "https://")):
            out.append(_v("pix_url_scheme", "a Pix location URL is written without its scheme",
                          tags, offsets, path))
    txid = tags.get("62.05")
    if txid is not None and not pix.txid_ok(txid):
        out.append(_v("pix_txid", "a Pix reference (txid) is 1-25 letters and digits or '***'",
                      tags, offsets, "62.05"))
    return out


# --- KHQR (Cambodia) --------------------------------------------------------------------------

_BAKONG_ID = re.compile(r"[^\s@]{1,31}@[^\s@]{1,31}")


def _khqr(tags: dict[str, str], offsets: dict[str, int], text: str) -> list[Violation]:
    roots = [r for r in ("29", "30") if f"{r}.00" in tags]
    if not roots:
        return [_v("khqr_no_account",
                   "a KHQR code needs a Bakong account in template 29 or 30", tags, offsets, None)]
    out = []
    for root in roots:
        bakong = tags[f"{root}.00"]
        if len(bakong) > 32 or not _BAKONG_ID.fullmatch(bakong):
            out.append(_v("khqr_bakong_id", "the Bakong account id must be name@bank, at most 32 "
                          "characters", tags, offsets, f"{root}.00"))
    return out


# --- VietQR (Vietnam, NAPAS) ------------------------------------------------------------------

_BIN = re.compile(r"[0-9]{6}")


def _vietqr(tags: dict[str, str], offsets: dict[str, int], text: str) -> list[Violation]:
    out = []
    for root in _templates_with_gui(tags, "A000000727"):
        bene = tags.get(f"{root}.01")
        if bene is None:
            out.append(_v("vietqr_no_beneficiary", "VietQR needs the beneficiary (bank BIN and "
                          "account) in sub-ID 01", tags, offsets, root))
        else:
            start = offsets[f"{root}.01"] + 4
            try:
                inner = {o.id: o.value for o in parse_objects(text, start, start + len(bene),
                                                              f"{root}.01")}
            except QRPayloadError as exc:
                out.append(_v("vietqr_beneficiary", f"the beneficiary is not TLV: {exc.message}",
                              tags, offsets, f"{root}.01"))
            else:
                if not _BIN.fullmatch(inner.get("00", "")):
                    out.append(_v("vietqr_bin", "the bank BIN (01.00) must be 6 digits",
                                  tags, offsets, f"{root}.01"))
                if not 0 < len(inner.get("01", "")) <= 19:
                    out.append(_v("vietqr_account", "the account or card (01.01) must be 1-19 "
                                  "characters", tags, offsets, f"{root}.01"))
        service = tags.get(f"{root}.02")
        if service not in ("QRIBFTTA", "QRIBFTTC"):
            out.append(_v("vietqr_service", "the service code (02) must be QRIBFTTA (to account) "
                          "or QRIBFTTC (to card)", tags, offsets, f"{root}.02"))
    return out


# --- PromptPay (Thailand) ---------------------------------------------------------------------

_PROMPTPAY_IDS = {"01": re.compile(r"0066[0-9]{9}"), "02": re.compile(r"[0-9]{13}"),
                  "03": re.compile(r"[0-9]{15}")}


def _promptpay(tags: dict[str, str], offsets: dict[str, int], text: str) -> list[Violation]:
    out = []
    for root in _templates_with_gui(tags, "A000000677010111"):
        present = [k for k in _PROMPTPAY_IDS if f"{root}.{k}" in tags]
        if len(present) != 1:
            out.append(_v("promptpay_target", "a PromptPay transfer names exactly one target: "
                          "01 phone, 02 national id or 03 e-wallet", tags, offsets, root))
        for k in present:
            if not _PROMPTPAY_IDS[k].fullmatch(tags[f"{root}.{k}"]):
                out.append(_v("promptpay_target_format", "PromptPay targets are 0066 + 9 digits "
                              "(01), 13 digits (02) or 15 digits (03)",
                              tags, offsets, f"{root}.{k}"))
    return out


# --- the table --------------------------------------------------------------------------------

_NO_52_59_60 = frozenset({"52", "59", "60"})

PIX = Profile("pix", max_chars=512, currencies=frozenset({"986"}), country="BR", extra=_pix,
              unreserved_account_gui=pix.PIX_GUI)
KHQR = Profile("khqr", allow_rfu_ids=True, unreserved_needs_gui=False,
               currencies=frozenset({"116", "840"}), country="KH", extra=_khqr)
VIETQR = Profile("vietqr", relaxed_mandatory=_NO_52_59_60, currencies=frozenset({"704"}),
                 country="VN", extra=_vietqr)
PROMPTPAY = Profile("promptpay", relaxed_mandatory=_NO_52_59_60, currencies=frozenset({"764"}),
                    country="TH", extra=_promptpay)
QRIS = Profile("qris", currencies=frozenset({"360"}), country="ID")
SGQR = Profile("sgqr", currencies=frozenset({"702"}), country="SG")
DUITNOW = Profile("duitnow", format_indicators=frozenset({"01", "02"}),
                  currencies=frozenset({"458"}), country="MY")
LAO_QR = Profile("lao-qr", currencies=frozenset({"418"}), country="LA")
UNIONPAY = Profile("unionpay-mpm")
MASTERCARD = Profile("mastercard-mpm")
VISA = Profile("visa-mpm")
EMVCO = Profile("emvco-mpm")

PROFILES: tuple[Profile, ...] = (PIX, KHQR, VIETQR, PROMPTPAY, QRIS, SGQR, DUITNOW, LAO_QR,
                                 UNIONPAY, MASTERCARD, VISA, EMVCO)


def detect(tags: dict[str, str]) -> Profile:
    """The profile of a parsed payload: its merchant accounts first, the country only after.

    A code's accounts say who pays it out; the country only says where it was issued (a
    UnionPay code printed in Cambodia is UnionPay, not a malformed KHQR).
    """
    by_account = _from_accounts(tags)
    if by_account is not None:
        return by_account
    return _BY_COUNTRY.get(tags.get("58", ""), EMVCO)


def _from_accounts(tags: dict[str, str]) -> Profile | None:
    guis = set()
    for path, value in tags.items():
        if path.endswith(".00") and path.count(".") == 1:
            guis.add(value.upper())
    if "BR.GOV.BCB.PIX" in guis:
        return PIX
    if "A000000727" in guis:
        return VIETQR
    if any(g.startswith("A000000677") for g in guis):
        return PROMPTPAY
    if any(g.startswith("ID.CO.") for g in guis):
        return QRIS
    if guis & {"SG.SGQR", "SG.PAYNOW"}:
        return SGQR
    if "A0000006150001" in guis:
        return DUITNOW
    if "A005266284662577" in guis:
        return LAO_QR
    if any("@" in tags.get(f"{r}.00", "") for r in ("29", "30")):
        return KHQR
    if "15" in tags or "16" in tags:
        return UNIONPAY
    if "04" in tags or "05" in tags:
        return MASTERCARD
    if "02" in tags or "03" in tags:
        return VISA
    return None


_BY_COUNTRY: dict[str, Profile] = {"ID": QRIS, "SG": SGQR, "MY": DUITNOW, "LA": LAO_QR,
                                   "KH": KHQR}
