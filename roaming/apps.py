from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoamingConfig(AppConfig):
    """OCPI 2.2.1 as a charge point operator: partners (eMSPs, hubs) and what they exchange with us."""

    name = "roaming"
    verbose_name = _("Roaming")

    def ready(self) -> None:
        from roaming import commands
        from roaming.authorization import realtime_authorize, token_whitelist_refusal
        from roaming.cdr_credits import cdr_correct, cdrs_correct_due
        from roaming.cdrs import cdr_acknowledged, cdr_make_by_id
        from roaming.locations import evse_statuses_push, locations_push
        from roaming.push import acknowledged_handlers, push_send_due
        from roaming.sessions import partner_sessions_changed
        from roaming.settlement import session_cdrs
        from sessions_app import hooks

        # Without a broker the server sends the pushes that are due itself (with one, beat runs roaming.push_sweep),
        # and answers TIMEOUT to partners' commands left without a result.
        hooks.register(hooks.server_sweeps, ("roaming push", push_send_due))
        hooks.register(hooks.server_sweeps, ("roaming commands overdue", commands.commands_overdue))
        # A partner's token (or a uid no card has) at a charger's Authorize/StartTransaction: the partner asked in
        # real time as its whitelist rule says (Tokens); NEVER tokens stay off chargers' local lists.
        hooks.register(hooks.realtime_authorization_handlers, realtime_authorize)
        hooks.register(hooks.authorization_checks, token_whitelist_refusal)
        # An EVSE's status (its connector's, or its charger gone offline or back) is pushed to partners (Locations).
        hooks.register(hooks.connector_status_handlers, evse_statuses_push)
        # A site the operator edited (its address, name, position...) is sent whole to partners (Locations).
        hooks.register(hooks.site_changed_handlers, locations_push)
        # A partner's session is recorded and pushed as it starts, gets meter values and stops (Sessions); once
        # priced (billing's handler comes first: its app is readied before this one) it becomes a CDR, sent until
        # the partner acknowledges it.
        hooks.register(hooks.session_changed_handlers, partner_sessions_changed)
        hooks.register(hooks.session_completed_handlers, cdr_make_by_id)
        hooks.register(acknowledged_handlers, cdr_acknowledged)
        # A credit note on such a session: a credit CDR offsets the CDR in force and a new version follows (the
        # sweep catches one missed; beat runs it as roaming.cdr_corrections).
        hooks.register(hooks.session_credited_handlers, cdr_correct)
        hooks.register(hooks.server_sweeps, ("roaming CDR corrections", cdrs_correct_due))
        # Partners' commands: a result's acknowledgement noted; a reservation the operator or a fault ended is told.
        hooks.register(acknowledged_handlers, commands.command_result_acknowledged)
        hooks.register(hooks.reservation_ended_handlers, commands.command_reservation_ended)
        # A partner's monthly statement is its settlement: each session with the CDR it was sent as.
        hooks.register(hooks.session_cdr_handlers, session_cdrs)
