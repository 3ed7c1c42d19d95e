"""The tokens module, our receiver interface (OCPI 2.2.1 12.2.1): a partner puts, patches and reads its tokens at
``tokens/{country_code}/{party_id}/{token_uid}[?type=...]`` (type RFID when absent). A partner writes and reads only
its own party's tokens."""

from django.http import HttpRequest

from roaming.ocpi import Answer, OcpiError, OcpiView, Status, invalid
from roaming.tokens import TOKEN_TYPES, token_find, token_patch, token_upsert

#: The URL's fields compared regardless of case (CiStrings); the uid and type exactly.
_PARTY = ("country_code", "party_id")


class TokenView(OcpiView):
    def _key(self, request: HttpRequest, country_code: str, party_id: str, token_uid: str) -> dict[str, str]:
        """The token the URL names, once it is the calling partner's own party and a known type."""
        ocpi_type = request.GET.get("type", "RFID")
        if ocpi_type not in TOKEN_TYPES:
            raise invalid(f"type must be one of {', '.join(TOKEN_TYPES)}; got {ocpi_type!r}.")
        partner = self.partner
        if (country_code.upper(), party_id.upper()) != (partner.country_code.upper(), partner.party_id.upper()):
            raise invalid(
                f"{country_code}/{party_id} is not this partner's party ({partner.country_code}/{partner.party_id})."
            )
        return {"country_code": country_code, "party_id": party_id, "uid": token_uid, "ocpi_type": ocpi_type}

    @staticmethod
    def _unknown() -> OcpiError:
        return OcpiError(Status.UNKNOWN_TOKEN, "Unknown token.", 404)

    def get(self, request: HttpRequest, country_code: str, party_id: str, token_uid: str) -> Answer:
        token = token_find(partner=self.partner, **self._key(request, country_code, party_id, token_uid))
        if token is None:
            raise self._unknown()
        return Answer(token.data)

    def put(self, request: HttpRequest, country_code: str, party_id: str, token_uid: str) -> Answer:
        key = self._key(request, country_code, party_id, token_uid)
        body = self.body if isinstance(self.body, dict) else {}
        in_url = {"country_code": country_code, "party_id": party_id, "uid": token_uid, "type": key["ocpi_type"]}
        for name, value in in_url.items():
            given = body.get(name)
            if isinstance(given, str) and given != value and not (name in _PARTY and given.upper() == value.upper()):
                raise invalid(f"The token's {name} ({given!r}) is not the one the URL names ({value!r}).")
        token_upsert(partner=self.partner, data=self.body)
        return Answer()

    def patch(self, request: HttpRequest, country_code: str, party_id: str, token_uid: str) -> Answer:
        token = token_patch(
            partner=self.partner, **self._key(request, country_code, party_id, token_uid), data=self.body
        )
        if token is None:
            raise self._unknown()
        return Answer()
