"""What a card's driver pays at a charger, as a short text the charger shows when the card is accepted (OCPP 2.0.1
Authorize's personalMessage, through ``hooks.tariff_message_handlers``).

The prices are the tariff descriptions drivers see on the portal (``quotes.connector_price``: incl. VAT, in the
reader's language and number format), for the card's customer at each of the charger's connectors: Authorize names no
connector, so connectors whose tariffs differ are told apart by their numbers. The language is the card's driver's,
else the account's (``statement_content.account_language``).
"""

from datetime import datetime

from django.utils import translation

from accounts.models import IdTag
from billing.quotes import connector_price
from billing.statement_content import account_language
from sessions_app.hooks import DriverMessage
from sessions_app.models import ChargePoint

#: OCPP 2.0.1 MessageContentType.content.
MAX_LENGTH = 512


def tariff_message_for_card(*, charge_point: ChargePoint, id_tag: IdTag, at: datetime) -> DriverMessage | None:
    """The card's prices at this charger in its driver's language, e.g. ``0.45 EUR/kWh; Start fee 1.00 EUR``; None
    when no connector of the charger has a tariff for the card's customer."""
    account = id_tag.customer_account
    language = id_tag.owner.language if id_tag.owner is not None else account_language(account)
    with translation.override(language):
        texts: dict[str, list[int]] = {}
        for connector in charge_point.connectors.select_related("charge_point__site").order_by("number"):
            price = connector_price(connector=connector, customer_account=account, at=at)
            if price is not None:
                texts.setdefault("; ".join(price["lines"]), []).append(connector.number)
    if not texts:
        return None
    if len(texts) == 1:
        content = next(iter(texts))
    else:
        content = " | ".join(f"{'/'.join(f'#{n}' for n in numbers)}: {text}" for text, numbers in texts.items())
    if len(content) > MAX_LENGTH:
        content = content[: MAX_LENGTH - 1] + "…"
    return DriverMessage(content=content, language=language)
