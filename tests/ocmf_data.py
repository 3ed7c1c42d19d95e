"""OCMF records signed in the tests, the way a signing meter makes them: ECDSA (secp256r1, SHA-256) over the
payload JSON exactly as sent, the DER signature in hex (OCMF specification, signature section)."""

import json
from datetime import UTC, datetime
from decimal import Decimal

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


class Meter:
    """A signing meter with its own key pair."""

    def __init__(self):
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_der_hex(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            .hex()
            .upper()
        )

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, payload: str) -> str:
        return self.key.sign(payload.encode(), ec.ECDSA(hashes.SHA256())).hex().upper()

    def ocmf(self, *readings: tuple[datetime, str, Decimal | str], unit: str = "kWh", key_section: str = "") -> str:
        """An OCMF record of readings (time, TX reason B/T/E, value in ``unit``); ``key_section`` appends a key
        as a fourth section, as some chargers do."""
        payload = json.dumps(
            {
                "FV": "1.0",
                "GI": "TEST-GATEWAY",
                "GS": "GW-0001",
                "GV": "1.0",
                "PG": "T1",
                "MV": "Test Meters",
                "MM": "TM-1",
                "MS": "METER-0001",
                "MF": "1.0",
                "IS": True,
                "IL": "VERIFIED",
                "IF": ["RFID_PLAIN"],
                "IT": "ISO14443",
                "ID": "04A1B2C3",
                "RD": [
                    {
                        "TM": ocmf_time(at),
                        "TX": reason,
                        "RV": f"__RV{index}__",
                        "RI": "1-b:1.8.0",
                        "RU": unit,
                        "RT": "AC",
                        "EF": "",
                        "ST": "G",
                    }
                    for index, (at, reason, _value) in enumerate(readings)
                ],
            },
            separators=(",", ":"),
        )
        for index, (_at, _reason, value) in enumerate(readings):
            payload = payload.replace(f'"__RV{index}__"', str(value))  # a JSON number written as given (2935.600)
        signature = json.dumps({"SA": "ECDSA-secp256r1-SHA256", "SD": self.sign(payload)}, separators=(",", ":"))
        record = f"OCMF|{payload}|{signature}"
        return f"{record}|{key_section}" if key_section else record


def ocmf_time(at: datetime) -> str:
    """OCMF's time: milliseconds after a comma, an offset without colon, the time status (S: synchronised)."""
    moment = at.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S,") + f"{moment.microsecond // 1000:03d}+0000 S"


def tampered(record: str, old: str, new: str) -> str:
    """The record with its payload changed and the signature left as it was."""
    header, payload, signature = record.split("|", 2)
    assert old in payload
    return "|".join([header, payload.replace(old, new, 1), signature])
