"""Signed meter values (German calibration law, the OCA note on signed meter values in OCPP 1.6).

A sampled value with ``format: SignedData`` carries a meter's signed data set instead of a number. It is
kept exactly as sent (``SignedMeterValue``, once per charger and data), its format recognised, and, for
OCMF, its signature checked with ``pyocmf`` against the public key the operator registered for the charger
(``ChargePoint.meter_public_key``); a key that the data carries itself is never trusted, only compared.

Verification:

- ``verified``: the signature is valid for the registered key and the signed reading equals the charger's
  unsigned reading for the same time and measurand (within the signed value's rounding), when there is one;
- ``mismatch``: the signature is invalid or made with another key, the data carries another key than the
  registered one, or the signed reading differs from the unsigned one;
- ``not_verified``: no key is registered, the key cannot be read, or the format is one this server cannot
  check (EDL/SML, Alfen, PCDF, XML, unknown). The data is kept all the same: the driver's export carries it,
  so transparency software can check it.
"""

import base64
import binascii
import hashlib
import json
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db.models import QuerySet
from pyocmf import OCMF, PyOCMFError, SpecWarning
from pyocmf.core.reading import Reading

from sessions_app.models import ChargePoint, ChargingSession, Connector, MeterValue, SignedMeterValue

logger = logging.getLogger(__name__)

# pyocmf reports deviations from the OCMF specification that the Transparenzsoftware accepts as warnings;
# they do not change what is verified here.
warnings.filterwarnings("ignore", category=SpecWarning)

SIGNED_DATA = "SignedData"
ENERGY_REGISTERS = ("Energy.Active.Import.Register", "Energy.Active.Export.Register")

OCMF_ENCODING = "OCMF"
UNKNOWN_ENCODING = "unknown"
#: The SML transport's start (escape sequence and version 1): EDL40 meters' signed data sets.
_SML_START = bytes.fromhex("1b1b1b1b01010101")
#: Keys of the JSON object some chargers send as the value (OCPP 2.0.1's SignedMeterValueType, as the
#: be.ENERGISED and OCA notes suggest for 1.6).
_WRAPPED_DATA = ("signedMeterData", "signedMeterValue", "signed_meter_data", "signed_meter_value")
_WRAPPED_KEY = ("publicKey", "public_key")
_WRAPPED_METHOD = ("encodingMethod", "encoding_method")

Verification = SignedMeterValue.Verification


def is_signed(sampled: dict) -> bool:
    """A sampled value holding signed data rather than a number."""
    return sampled.get("format") == SIGNED_DATA


def data_digest(data: str) -> str:
    """The signed data's identity: resent, the same data is the same reading."""
    return hashlib.sha256(data.encode()).hexdigest()


# --- recognising the format -------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedData:
    """What the data is: its format, the text to verify (the OCMF string for OCMF) and a key it carries."""

    encoding: str
    content: str
    embedded_key: str = ""


def _bytes_of(text: str) -> bytes | None:
    """The bytes of hex or base64 text, else None."""
    compact = "".join(text.split())
    if not compact:
        return None
    try:
        return bytes.fromhex(compact)
    except ValueError:
        pass
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _from_bytes(raw: bytes) -> SignedData | None:
    if raw.startswith(b"OCMF|"):
        try:
            return _from_text(raw.decode())
        except UnicodeDecodeError:
            return None
    if raw.startswith(_SML_START):
        return SignedData("EDL", raw.hex().upper())
    return None


def _from_text(text: str) -> SignedData | None:
    """Formats recognised by their shape, as the Transparenzsoftware does; None for none of them."""
    if text.startswith("OCMF|"):
        return SignedData(OCMF_ENCODING, text)
    parts = text.split(";")
    if parts[0] == "AP" and len(parts) == 6:  # Alfen: AP;type;blob version;public key;dataset;signature
        return SignedData("ALFEN", text, parts[3])
    if text.find("128.8.0") in (0, 1, 6) or "(RV:" in text:  # Porsche (PCDF)
        key = text.split("(PK:", 1)[1].split(")", 1)[0] if "(PK:" in text else ""
        return SignedData("PCDF", text, key)
    if text.startswith("<"):  # an XML data set (EDL Mennekes, ISA EDL40, Transparenzsoftware files)
        return SignedData("XML", text)
    raw = _bytes_of(text)
    return None if raw is None else _from_bytes(raw)


def _wrapped(text: str) -> SignedData | None:
    """The JSON object form: {"signedMeterData": ..., "encodingMethod": "OCMF", "publicKey": ...}."""
    try:
        wrapper = json.loads(text)
    except ValueError:
        return None
    if not isinstance(wrapper, dict):
        return None
    inner = next((wrapper[key] for key in _WRAPPED_DATA if isinstance(wrapper.get(key), str)), None)
    if inner is None:
        return None
    key = next((wrapper[name] for name in _WRAPPED_KEY if isinstance(wrapper.get(name), str)), "")
    found = _from_text(inner.strip())
    if found is None:
        method = next((wrapper[name] for name in _WRAPPED_METHOD if isinstance(wrapper.get(name), str)), "")
        label = "".join(char for char in method.upper() if char.isalnum() or char in "-_")[:20]
        return SignedData(label or UNKNOWN_ENCODING, inner, key)
    return SignedData(found.encoding, found.content, key or found.embedded_key)


def signed_data_read(data: str) -> SignedData:
    """Recognise signed data: OCMF (plain, hex, base64 or in a JSON object), EDL40 (SML), Alfen, PCDF or
    XML; anything else is ``unknown``."""
    text = data.strip()
    found = _wrapped(text) if text.startswith("{") else _from_text(text)
    return found or SignedData(UNKNOWN_ENCODING, text)


# --- public keys ------------------------------------------------------------------------------------

_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "secp192r1": ec.SECP192R1,
    "secp256r1": ec.SECP256R1,
    "secp384r1": ec.SECP384R1,
    "secp521r1": ec.SECP521R1,
    "secp256k1": ec.SECP256K1,
    "brainpool256r1": ec.BrainpoolP256R1,
    "brainpoolP256r1": ec.BrainpoolP256R1,
    "brainpool384r1": ec.BrainpoolP384R1,
}


def public_key_der(text: str, *, curve: str | None = None) -> bytes | None:
    """A public key as DER bytes, from PEM, hex or base64 DER, or (given its curve) a bare hex point; None if
    it cannot be read."""
    text = text.strip()
    if not text:
        return None
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except (ValueError, TypeError):
            return None
        return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if ":" in text:  # "30:59:30:13:..." as tools print it, or a labelled "oca:base16:asn1:3059..."
        parts = text.split(":")
        text = "".join(parts) if all(len(part) == 2 for part in parts) else parts[-1]
    raw = _bytes_of(text)
    if raw is None:
        return None
    if raw[:1] == b"\x30":  # a DER SubjectPublicKeyInfo (checked when verifying: some curves only pyocmf reads)
        return raw
    if raw[:1] in (b"\x02", b"\x03", b"\x04") and curve in _CURVES:
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[curve](), raw)
        except ValueError:
            return None
        return point.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return None


def public_key_for_export(charge_point: ChargePoint) -> str:
    """The charger's registered key as hex DER, as transparency software takes it (as entered if unreadable)."""
    der = public_key_der(charge_point.meter_public_key)
    return der.hex().upper() if der else charge_point.meter_public_key.strip()


# --- verifying --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    verification: str
    value_wh: Decimal | None
    detail: str


def _energy_readings(ocmf: OCMF, measurand: str) -> list[Reading]:
    energy = [reading for reading in ocmf.payload.RD if reading.RV is not None and str(reading.RU) in ("Wh", "kWh")]
    register = ":2.8" if measurand == "Energy.Active.Export.Register" else ":1.8"
    matching = [reading for reading in energy if reading.RI is not None and register in str(reading.RI)]
    return matching or energy


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _signed_reading(ocmf: OCMF, *, measurand: str, context: str, at: datetime) -> Reading | None:
    """The OCMF reading the sampled value stands for: its begin or end reading for a transaction's begin or
    end, else the energy reading closest in time (the last of equals)."""
    readings = _energy_readings(ocmf, measurand)
    wanted = {"Transaction.Begin": "B", "Transaction.End": "E"}.get(context)
    if wanted and any(str(reading.TX) == wanted for reading in readings):
        readings = [reading for reading in readings if str(reading.TX) == wanted]
    if not readings:
        return None
    return min(reversed(readings), key=lambda reading: abs(_aware(reading.timestamp) - at))


def _in_wh(reading: Reading) -> tuple[Decimal, Decimal]:
    """The reading in Wh and its resolution (one unit of its last digit, at least 1 Wh)."""
    value = Decimal(reading.RV)  # type: ignore[arg-type]  # chosen among readings with a value
    scale = Decimal(1000) if str(reading.RU) == "kWh" else Decimal(1)
    exponent = value.as_tuple().exponent
    step = Decimal(1).scaleb(exponent) * scale if isinstance(exponent, int) else Decimal(1)
    return value * scale, max(step, Decimal(1))


def _wh(value: Decimal) -> str:
    return f"{value.normalize():f} Wh"


def _ocmf_verdict(found: SignedData, *, key_text: str, measurand: str, context: str, at, unsigned) -> Verdict:
    try:
        ocmf = OCMF.from_string(found.content)
    except PyOCMFError as error:
        return Verdict(Verification.NOT_VERIFIED, None, f"OCMF data that cannot be read: {error}")
    reading = _signed_reading(ocmf, measurand=measurand, context=context, at=at)
    value_wh, step = _in_wh(reading) if reading is not None else (None, Decimal(1))
    if not key_text.strip():
        extra = (
            " (the data carries one, which is not trusted)" if (found.embedded_key or ocmf.embedded_public_key) else ""
        )
        return Verdict(Verification.NOT_VERIFIED, value_wh, f"No meter public key registered for this charger{extra}.")
    method = ocmf.signature.SA
    curve = str(method).split("-")[1] if str(method).count("-") == 2 else None
    registered = public_key_der(key_text, curve=curve)
    if registered is None:
        return Verdict(Verification.NOT_VERIFIED, value_wh, "The registered meter public key cannot be read.")
    for carried in (found.embedded_key, ocmf.embedded_public_key or ""):
        carried_der = public_key_der(carried, curve=curve) if carried else None
        if carried_der is not None and carried_der != registered:
            return Verdict(
                Verification.MISMATCH, value_wh, "The data carries another public key than the registered one."
            )
    try:
        valid = ocmf.verify_signature(registered.hex())
    except PyOCMFError as error:
        return Verdict(
            Verification.MISMATCH, value_wh, f"The signature cannot be checked with the registered key: {error}"
        )
    if not valid:
        return Verdict(Verification.MISMATCH, value_wh, "The signature is not valid for the registered key.")
    if value_wh is None:
        return Verdict(Verification.VERIFIED, None, "Signature valid; the data holds no energy reading.")
    if unsigned is None:
        return Verdict(Verification.VERIFIED, value_wh, "Signature valid; no unsigned reading to compare with.")
    if abs(value_wh - unsigned) > step:
        return Verdict(
            Verification.MISMATCH, value_wh, f"Signed reading {_wh(value_wh)}, unsigned reading {_wh(unsigned)}."
        )
    return Verdict(Verification.VERIFIED, value_wh, "Signature valid; the signed reading equals the unsigned one.")


def signed_value_verify(
    *, data: str, key: str, measurand: str, context: str, at: datetime, unsigned_wh: Decimal | None
) -> tuple[str, Verdict]:
    """(encoding, verdict) for one signed value; ``unsigned_wh`` is the charger's plain reading to compare."""
    found = signed_data_read(data)
    if found.encoding != OCMF_ENCODING:
        detail = (
            "Unknown format: kept as sent, not verified."
            if found.encoding == UNKNOWN_ENCODING
            else f"{found.encoding} data is kept as sent; this server does not verify it."
        )
        return found.encoding, Verdict(Verification.NOT_VERIFIED, None, detail)
    try:
        verdict = _ocmf_verdict(found, key_text=key, measurand=measurand, context=context, at=at, unsigned=unsigned_wh)
    except Exception:  # noqa: BLE001 - a reading is never lost to a verification fault
        logger.exception("Signed meter value could not be verified.")
        verdict = Verdict(Verification.NOT_VERIFIED, None, "The verification failed; see the server log.")
    return found.encoding, Verdict(verdict.verification, verdict.value_wh, verdict.detail[:255])


# --- intake -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedSample:
    """One SignedData sampled value as received, with its reading's stored time and its links."""

    charge_point: ChargePoint
    connector: Connector | None
    session: ChargingSession | None
    timestamp: datetime
    sampled: dict


def signed_samples(
    *,
    charge_point: ChargePoint,
    connector: Connector | None,
    session: ChargingSession | None,
    meter_value: list[dict],
    times: list[datetime],
) -> list[SignedSample]:
    """The message's signed values; ``times`` are its readings' stored times, in order."""
    return [
        SignedSample(charge_point, connector, session, at, sampled)
        for reading, at in zip(meter_value, times, strict=True)
        for sampled in reading.get("sampled_value", [])
        if is_signed(sampled) and isinstance(sampled.get("value"), str)
    ]


#: A signed value's plain readings, by location: keyed by charger, connector, time and measurand.
PlainReadings = dict[tuple[int, int | None, datetime, str], dict[str, Decimal]]


def _plain_readings(values: Iterable[SignedMeterValue]) -> PlainReadings:
    """The charger's plain energy-register readings at the signed values' times, in one query for them all."""
    wanted = [value for value in values if value.measurand in ENERGY_REGISTERS]
    found: PlainReadings = {}
    if not wanted:
        return found
    rows = MeterValue.objects.filter(
        charge_point_id__in={value.charge_point_id for value in wanted},
        timestamp__in={value.timestamp for value in wanted},
        measurand__in={value.measurand for value in wanted},
        unit="Wh",
        phase="",
    ).values_list("charge_point_id", "connector_id", "timestamp", "measurand", "location", "value")
    for charge_point_id, connector_id, timestamp, measurand, location, reading in rows:
        found.setdefault((charge_point_id, connector_id, timestamp, measurand), {})[location] = reading
    return found


def _unsigned_wh(value: SignedMeterValue, plain: PlainReadings, *, location: str = "") -> Decimal | None:
    """The charger's plain reading for the signed value's time and measurand (from ``_plain_readings``), else
    the session's start or stop register for a transaction's begin or end."""
    if value.measurand not in ENERGY_REGISTERS:
        return None
    readings = plain.get((value.charge_point_id, value.connector_id, value.timestamp, value.measurand), {})
    if readings:
        return readings.get(location, next(iter(readings.values())))
    session = value.session
    if session is not None and value.measurand == "Energy.Active.Import.Register":
        if value.context == "Transaction.Begin":
            return Decimal(session.meter_start_wh)
        if value.context == "Transaction.End" and session.meter_stop_wh is not None:
            return Decimal(session.meter_stop_wh)
    return None


def _verify_into(value: SignedMeterValue, plain: PlainReadings, *, location: str = "") -> None:
    value.encoding, verdict = signed_value_verify(
        data=value.data,
        key=value.charge_point.meter_public_key,
        measurand=value.measurand,
        context=value.context,
        at=value.timestamp,
        unsigned_wh=_unsigned_wh(value, plain, location=location),
    )
    value.verification, value.value_wh, value.detail = verdict.verification, verdict.value_wh, verdict.detail


def signed_meter_values_store(samples: Iterable[SignedSample]) -> list[SignedMeterValue]:
    """Keep each signed value once per charger (the same data sent again stores nothing), verified; the
    plain readings of the same messages must be stored first. Returns the values stored now."""
    new: dict[tuple[int, str], tuple[SignedMeterValue, str]] = {}
    for sample in samples:
        data = sample.sampled["value"]
        key = (sample.charge_point.pk, data_digest(data))
        if key in new:
            continue
        value = SignedMeterValue(
            charge_point=sample.charge_point,
            connector=sample.connector,
            session=sample.session,
            timestamp=sample.timestamp,
            measurand=sample.sampled.get("measurand") or "Energy.Active.Import.Register",
            context=sample.sampled.get("context") or "Sample.Periodic",
            data=data,
            data_digest=key[1],
        )
        new[key] = (value, sample.sampled.get("location") or "")
    if not new:
        return []
    stored = set(
        SignedMeterValue.objects.filter(
            charge_point_id__in={cp for cp, _digest in new}, data_digest__in={digest for _cp, digest in new}
        ).values_list("charge_point_id", "data_digest")
    )
    fresh = [(value, location) for key, (value, location) in new.items() if key not in stored]
    plain = _plain_readings(value for value, _location in fresh)
    values = []
    for value, location in fresh:
        _verify_into(value, plain, location=location)
        values.append(value)
    # Another server process may store the same data meanwhile: the unique constraint keeps it once.
    SignedMeterValue.objects.bulk_create(values, ignore_conflicts=True)
    return values


def signed_meter_values_verify(*, charge_point: ChargePoint) -> int:
    """Verify a charger's signed values again (its public key changed); how many changed verdict."""
    changed = []
    kept = list(SignedMeterValue.objects.filter(charge_point=charge_point).select_related("session"))
    plain = _plain_readings(kept)
    for value in kept:
        value.charge_point = charge_point
        before = (value.verification, value.value_wh, value.detail)
        _verify_into(value, plain)
        if (value.verification, value.value_wh, value.detail) != before:
            changed.append(value)
    SignedMeterValue.objects.bulk_update(changed, ["encoding", "verification", "value_wh", "detail"])
    return len(changed)


# --- reading ----------------------------------------------------------------------------------------


def session_signed_values(session: ChargingSession) -> QuerySet[SignedMeterValue]:
    return SignedMeterValue.objects.filter(session=session).order_by("timestamp", "pk")


EXPORT_COLUMNS = (
    "session",
    "time",
    "station",
    "connector",
    "measurand",
    "context",
    "format",
    "verification",
    "signed_reading_wh",
    "detail",
    "public_key",
    "signed_data",
)


def signed_values_export_rows(sessions: QuerySet[ChargingSession]) -> Iterable[list]:
    """One CSV row per signed value of ``sessions``: the data as the charger sent it and the registered
    public key, so transparency software can check it."""
    values = (
        SignedMeterValue.objects.filter(session__in=sessions.order_by().values("pk"))
        .select_related("charge_point", "connector")
        .order_by("session_id", "timestamp", "pk")
    )
    keys: dict[int, str] = {}
    for value in values.iterator(chunk_size=500):
        if value.charge_point_id not in keys:
            keys[value.charge_point_id] = public_key_for_export(value.charge_point)
        yield [
            value.session_id,
            value.timestamp.isoformat(),
            value.charge_point.ocpp_id,
            value.connector.number if value.connector else "",
            value.measurand,
            value.context,
            value.encoding,
            value.verification,
            "" if value.value_wh is None else f"{value.value_wh.normalize():f}",
            value.detail,
            keys[value.charge_point_id],
            value.data,
        ]
