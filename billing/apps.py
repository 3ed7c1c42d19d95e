from django.apps import AppConfig
from django.core import checks
from django.utils.translation import gettext_lazy as _


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = _("Billing")

    def ready(self) -> None:
        from billing.balances import wallet_refusal
        from billing.load_priority import session_load_priorities
        from billing.quotes import session_cost_so_far
        from billing.reservation_fees import (
            reservation_fee_by_id,
            reservation_fee_offers_for_driver,
            reservation_fees_charged_text,
            reservation_fees_sweep,
        )
        from billing.selectors import session_billing_gaps
        from billing.services import session_price_freeze_by_id
        from billing.stripe_payments import stripe_settings_check
        from billing.tariff_message import tariff_message_for_card
        from billing.terminal import TERMINAL_PAYMENT, terminal_payment_data_transfer
        from sessions_app import hooks

        # sessions_app may not import billing: it calls what billing registers here.
        # A stopped session is priced and charged once its stop has committed;
        hooks.register(hooks.session_completed_handlers, session_price_freeze_by_id)
        # the post-stop sweeper asks which sessions a crash left unpriced or uncharged;
        hooks.register(hooks.post_stop_gap_finders, session_billing_gaps)
        # a reservation that ended is priced (its reservation fee) and charged once the end has committed;
        hooks.register(hooks.reservation_ended_handlers, reservation_fee_by_id)
        # a server without a broker (no beat) prices and charges the fees a crash left behind itself;
        hooks.register(hooks.server_sweeps, ("reservation fee", reservation_fees_sweep))
        # drivers see a reservation fee on the reserve page before reserving, and the fee charged afterwards;
        hooks.register(hooks.reservation_fee_offer_handlers, reservation_fee_offers_for_driver)
        hooks.register(hooks.reservation_fee_charged_handlers, reservation_fees_charged_text)
        # a card whose prepaid wallet is empty may not start;
        hooks.register(hooks.authorization_checks, wallet_refusal)
        # a 2.0.1 charger shows a card's driver the prices when it accepts the card;
        hooks.register(hooks.tariff_message_handlers, tariff_message_for_card)
        # an OCPP 2.0.1 charger shows a running session's cost so far (CostUpdated);
        hooks.register(hooks.session_cost_handlers, session_cost_so_far)
        # load management shares a site's power among sessions by their customer groups' priority;
        hooks.register(hooks.load_priority_handlers, session_load_priorities)
        # a charger's payment terminal reports what it was paid by DataTransfer.
        hooks.data_transfer_handlers[TERMINAL_PAYMENT] = terminal_payment_data_transfer
        # Stripe's secret key and webhook secret come together (billing.E001).
        checks.register(stripe_settings_check)
