"""Payment QR codes: EMVCo merchant- and consumer-presented, wallet URIs, ScanPay app codes.

Parse with :func:`payments.qr.parse.parse_payload`; build a kiosk's dynamic code with
:func:`payments.qr.generate.make_dynamic_mpm`. Format notes: ``docs/payment-qr.md``.
"""

from payments.qr.model import ParsedPayload, QRBuildError, QRPayloadError, Violation
from payments.qr.parse import check_payload, parse_payload

__all__ = ["ParsedPayload", "QRBuildError", "QRPayloadError", "Violation", "check_payload",
           "parse_payload"]
