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
        if session_price_freeze_by_id not in hooks.session_completed_handlers:
            hooks.session_completed_handlers.append(session_price_freeze_by_id)
        # the post-stop sweeper asks which sessions a crash left unpriced or uncharged;
        if session_billing_gaps not in hooks.post_stop_gap_finders:
            hooks.post_stop_gap_finders.append(session_billing_gaps)
        # a reservation that ended is priced (its reservation fee) and charged once the end has committed;
        if reservation_fee_by_id not in hooks.reservation_ended_handlers:
            hooks.reservation_ended_handlers.append(reservation_fee_by_id)
        # a server without a broker (no beat) prices and charges the fees a crash left behind itself;
        if ("reservation fee", reservation_fees_sweep) not in hooks.server_sweeps:
            hooks.server_sweeps.append(("reservation fee", reservation_fees_sweep))
        # drivers see a reservation fee on the reserve page before reserving, and the fee charged afterwards;
        if reservation_fee_offers_for_driver not in hooks.reservation_fee_offer_handlers:
            hooks.reservation_fee_offer_handlers.append(reservation_fee_offers_for_driver)
        if reservation_fees_charged_text not in hooks.reservation_fee_charged_handlers:
            hooks.reservation_fee_charged_handlers.append(reservation_fees_charged_text)
        # a card whose prepaid wallet is empty may not start;
        if wallet_refusal not in hooks.authorization_checks:
            hooks.authorization_checks.append(wallet_refusal)
        # a 2.0.1 charger shows a card's driver the prices when it accepts the card;
        if tariff_message_for_card not in hooks.tariff_message_handlers:
            hooks.tariff_message_handlers.append(tariff_message_for_card)
        # an OCPP 2.0.1 charger shows a running session's cost so far (CostUpdated);
        if session_cost_so_far not in hooks.session_cost_handlers:
            hooks.session_cost_handlers.append(session_cost_so_far)
        # load management shares a site's power among sessions by their customer groups' priority;
        if session_load_priorities not in hooks.load_priority_handlers:
            hooks.load_priority_handlers.append(session_load_priorities)
        # a charger's payment terminal reports what it was paid by DataTransfer.
        hooks.data_transfer_handlers[TERMINAL_PAYMENT] = terminal_payment_data_transfer
        # Stripe's secret key and webhook secret come together (billing.E001).
        checks.register(stripe_settings_check)
