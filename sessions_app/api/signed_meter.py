"""Signed meter values in the API: a session's signed readings as the charger sent them, with their verification."""

from rest_framework import serializers

from sessions_app.models import SignedMeterValue


class SignedMeterValueSerializer(serializers.ModelSerializer):
    value_wh = serializers.DecimalField(
        max_digits=20,
        decimal_places=6,
        read_only=True,
        allow_null=True,
        help_text="The reading the signed data states, in Wh, when it could be read.",
    )
    verification = serializers.ChoiceField(
        choices=SignedMeterValue.Verification.choices,
        read_only=True,
        help_text="verified: the signature is valid for the charger's registered meter key and the reading equals "
        "the unsigned one; mismatch: an invalid signature, another key or another reading; not_verified: no key "
        "registered or a format this server does not check.",
    )

    class Meta:
        model = SignedMeterValue
        fields = ["id", "timestamp", "measurand", "context", "encoding", "data", "value_wh", "verification", "detail"]
        read_only_fields = fields
        # "data" is declared here: as a class attribute it would hide the serializer's own ``data``.
        extra_kwargs = {
            "data": {"help_text": "The signed data exactly as the charger sent it (OCMF: 'OCMF|{...}|{...}')."}
        }
