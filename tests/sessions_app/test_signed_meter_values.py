"""Signed meter values: kept as sent once, their format recognised, OCMF verified against the registered key."""

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from sessions_app.models import MeterValue, SignedMeterValue
from sessions_app.services import (
    MeterValuesReport,
    meter_value_unstorable,
    meter_values_record_many,
    session_start,
    session_stop,
)
from sessions_app.signed_meter import signed_data_read, signed_meter_values_verify
from tests.ocmf_data import Meter, tampered

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
REGISTER = "Energy.Active.Import.Register"
V = SignedMeterValue.Verification


@pytest.fixture
def meter() -> Meter:
    return Meter()


def _sampled(raw_wh: str | None, signed: str | None, *, context: str = "Sample.Periodic") -> list[dict]:
    values = []
    if raw_wh is not None:
        values.append({"value": raw_wh, "measurand": REGISTER, "unit": "Wh", "context": context})
    if signed is not None:
        values.append({"value": signed, "measurand": REGISTER, "format": "SignedData", "context": context})
    return [{"timestamp": T0, "sampled_value": values}]


def _record(cp, meter_value, transaction_id=None) -> list[int]:
    return meter_values_record_many(
        reports=[MeterValuesReport(cp, 1, transaction_id, meter_value)], now=T0 + timedelta(seconds=1)
    )


def _registered(cp, key: str):
    cp.meter_public_key = key
    cp.save(update_fields=["meter_public_key"])
    return cp


def test_a_signed_reading_equal_to_the_raw_one_with_the_registered_key_is_verified(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    record = meter.ocmf((T0, "T", "12.345"))

    assert _record(cp, _sampled("12345", record)) == [1]  # the plain reading counts as before

    signed = SignedMeterValue.objects.get()
    assert (signed.encoding, signed.verification, signed.value_wh) == ("OCMF", V.VERIFIED, Decimal("12345"))
    assert signed.data == record and signed.timestamp == T0 and signed.measurand == REGISTER
    assert MeterValue.objects.get().value == 12345  # the raw value is kept as today


def test_a_pem_key_verifies_as_the_hex_der_one_does(world, meter):
    cp = _registered(world.cp_a, meter.public_pem)
    _record(cp, _sampled("12345", meter.ocmf((T0, "T", "12.345"))))
    assert SignedMeterValue.objects.get().verification == V.VERIFIED


def test_tampered_data_is_a_mismatch(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    record = tampered(meter.ocmf((T0, "T", "12.345")), '"RV":12.345', '"RV":10.345')

    _record(cp, _sampled("10345", record))

    signed = SignedMeterValue.objects.get()
    assert signed.verification == V.MISMATCH
    assert signed.detail == "The signature is not valid for the registered key."


def test_data_signed_by_another_meter_is_a_mismatch(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    _record(cp, _sampled("12345", Meter().ocmf((T0, "T", "12.345"))))
    assert SignedMeterValue.objects.get().verification == V.MISMATCH


def test_without_a_registered_key_it_is_kept_but_not_verified(world, meter):
    _record(world.cp_a, _sampled("12345", meter.ocmf((T0, "T", "12.345"))))

    signed = SignedMeterValue.objects.get()
    assert (signed.verification, signed.value_wh) == (V.NOT_VERIFIED, Decimal("12345"))
    assert signed.detail == "No meter public key registered for this charger."


def test_a_key_carried_in_the_data_is_not_trusted_and_another_one_than_registered_is_a_mismatch(world, meter):
    record = meter.ocmf((T0, "T", "12.345"), key_section=meter.public_der_hex)
    _record(world.cp_a, _sampled("12345", record))
    assert SignedMeterValue.objects.get().verification == V.NOT_VERIFIED  # its own key proves nothing

    cp = _registered(world.cp_b, meter.public_der_hex)
    other_key = meter.ocmf((T0, "T", "12.345"), key_section=Meter().public_der_hex)
    meter_values_record_many(reports=[MeterValuesReport(cp, 1, None, _sampled("12345", other_key))], now=T0)
    signed = SignedMeterValue.objects.get(charge_point=cp)
    assert signed.verification == V.MISMATCH
    assert signed.detail == "The data carries another public key than the registered one."


def test_a_signed_reading_that_differs_from_the_raw_reading_is_a_mismatch(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    _record(cp, _sampled("12400", meter.ocmf((T0, "T", "12.345"))))

    signed = SignedMeterValue.objects.get()
    assert signed.verification == V.MISMATCH
    assert signed.detail == "Signed reading 12345 Wh, unsigned reading 12400 Wh."


def test_the_signed_reading_is_compared_within_its_own_rounding(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    _record(cp, _sampled("12346.4", meter.ocmf((T0, "T", "12.35"))))  # 12.35 kWh is 12340..12360 Wh
    assert SignedMeterValue.objects.get().verification == V.VERIFIED


def test_hex_base64_and_json_wrapped_ocmf_are_recognised_and_verified(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    record = meter.ocmf((T0, "T", "12.345"))
    wrapped = json.dumps(
        {"signedMeterData": base64.b64encode(record.encode()).decode(), "encodingMethod": "OCMF", "publicKey": ""}
    )
    for data in (record.encode().hex().upper(), base64.b64encode(record.encode()).decode(), wrapped):
        SignedMeterValue.objects.all().delete()
        _record(cp, _sampled("12345", data))
        signed = SignedMeterValue.objects.get()
        assert (signed.encoding, signed.verification, signed.data) == ("OCMF", V.VERIFIED, data)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("AP;0;3;ALCV3ABBBISHMA2RYEGJEXXXXXXXXXX;BJHCAMZGIVDFCAAAA;CQ7ZVAA", "ALFEN"),
        ("1B1B1B1B01010101760500BF0C55", "EDL"),
        (base64.b64encode(bytes.fromhex("1B1B1B1B01010101760500BF0C55")).decode(), "EDL"),
        ('<?xml version="1.0"?><values><value><signedData>AA</signedData></value></values>', "XML"),
        ("(RV:12.345)(PK:04AB)(SG:3044)", "PCDF"),
        ('{"signedMeterData": "AAECAw==", "encodingMethod": "EDL", "publicKey": ""}', "EDL"),
        ("something a charger made up", "unknown"),
        ("1e3", "unknown"),
    ],
)
def test_other_formats_are_recognised_and_an_unknown_one_is_kept_not_verified(world, meter, data, encoding):
    _registered(world.cp_a, meter.public_der_hex)
    assert signed_data_read(data).encoding == encoding

    _record(world.cp_a, _sampled(None, data))

    signed = SignedMeterValue.objects.get()
    assert (signed.encoding, signed.verification, signed.data) == (encoding, V.NOT_VERIFIED, data)
    assert not MeterValue.objects.exists()  # signed data is never stored as a number ("1e3")


def test_signed_data_that_reads_like_a_huge_number_is_no_callerror():
    assert meter_value_unstorable(_sampled("1000", "1e400")) is None


def test_the_same_signed_data_sent_again_is_stored_once(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    message = _sampled("12345", meter.ocmf((T0, "T", "12.345")))

    assert _record(cp, message) == [1]
    assert _record(cp, message) == [0]
    meter_values_record_many(
        reports=[MeterValuesReport(cp, 1, None, message), MeterValuesReport(cp, 1, None, message)], now=T0
    )

    assert SignedMeterValue.objects.count() == 1
    assert MeterValue.objects.count() == 1


def test_a_signed_end_reading_in_the_stop_is_linked_to_its_session_and_compared_with_meter_stop(world, meter):
    cp = _registered(world.cp_a, meter.public_der_hex)
    session = session_start(
        charge_point=cp, connector_id=1, raw_uid=world.alice_card.uid, meter_start_wh=10000, timestamp=T0, now=T0
    )
    end = T0 + timedelta(hours=1)
    record = meter.ocmf((T0, "B", "10.000"), (end, "E", "12.345"))
    data = [
        {"timestamp": end, "sampled_value": [{"value": record, "format": "SignedData", "context": "Transaction.End"}]}
    ]

    for _ in range(2):  # the stop sent again
        session_stop(
            charge_point=cp,
            transaction_id=session.pk,
            raw_uid=world.alice_card.uid,
            meter_stop_wh=12345,
            timestamp=end,
            reason="Local",
            transaction_data=data,
            now=end,
        )

    signed = SignedMeterValue.objects.get()
    assert signed.session == session and signed.context == "Transaction.End"
    assert (signed.verification, signed.value_wh) == (V.VERIFIED, Decimal("12345"))  # its E reading, not B


def test_registering_the_key_later_verifies_what_was_kept(world, meter):
    _record(world.cp_a, _sampled("12345", meter.ocmf((T0, "T", "12.345"))))
    assert SignedMeterValue.objects.get().verification == V.NOT_VERIFIED

    cp = _registered(world.cp_a, meter.public_der_hex)
    assert signed_meter_values_verify(charge_point=cp) == 1

    assert SignedMeterValue.objects.get().verification == V.VERIFIED


def test_an_unreadable_registered_key_is_said_so(world, meter):
    cp = _registered(world.cp_a, "not a key")
    _record(cp, _sampled("12345", meter.ocmf((T0, "T", "12.345"))))
    signed = SignedMeterValue.objects.get()
    assert (signed.verification, signed.detail) == (V.NOT_VERIFIED, "The registered meter public key cannot be read.")


def test_received_at_is_set(world, meter):
    before = timezone.now()
    _record(world.cp_a, _sampled(None, meter.ocmf((T0, "T", "1"))))
    assert SignedMeterValue.objects.get().received_at >= before


def test_a_batch_of_signed_readings_costs_the_same_queries_whatever_its_size(world, meter):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    cp = _registered(world.cp_a, meter.public_der_hex)

    def batch(start: int, count: int) -> int:
        reports = []
        for n in range(start, start + count):
            at = T0 + timedelta(minutes=n)
            wh = str(12_000 + n)
            reading = [
                {"value": wh, "measurand": REGISTER, "unit": "Wh"},
                {
                    "value": meter.ocmf((at, "T", f"{(12_000 + n) / 1000:.3f}")),
                    "measurand": REGISTER,
                    "format": "SignedData",
                },
            ]
            reports.append(MeterValuesReport(cp, 1, None, [{"timestamp": at, "sampled_value": reading}]))
        with CaptureQueriesContext(connection) as queries:
            meter_values_record_many(reports=reports, now=T0 + timedelta(hours=2))
        return len(queries)

    assert batch(0, 2) == batch(10, 20)
    assert set(SignedMeterValue.objects.values_list("verification", flat=True)) == {V.VERIFIED}
