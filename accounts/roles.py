"""Roles as Django groups: what operator staff may do in the admin.

Which rows they see is decided by ``core.admin_scoping`` (their organization
only); this module decides which models and actions they get at all.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

OPERATOR_GROUP_NAME = "Operator staff"

# Charger-reported data is read-only; review flags may be resolved; the operator's own
# organization may be viewed and changed but not created or deleted. Frozen session prices
# are read-only; credit notes are issued, never changed.
OPERATOR_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("accounts", "organization"): ("view", "change"),
    ("accounts", "customeraccount"): ("view", "add", "change", "delete"),
    ("accounts", "idtag"): ("view", "add", "change", "delete"),
    ("accounts", "user"): ("view", "add", "change"),
    ("accounts", "apitoken"): ("view", "add", "change"),
    ("sessions_app", "site"): ("view", "add", "change", "delete"),
    ("sessions_app", "chargepoint"): ("view", "add", "change", "delete"),
    ("sessions_app", "connector"): ("view", "add", "change", "delete"),
    ("sessions_app", "chargingsession"): ("view",),
    ("sessions_app", "sessionflag"): ("view", "change"),
    ("sessions_app", "metervalue"): ("view",),
    ("sessions_app", "statusevent"): ("view",),
    ("sessions_app", "securityevent"): ("view",),
    ("sessions_app", "chargerevent"): ("view",),
    ("sessions_app", "chargercommand"): ("view",),
    ("sessions_app", "chargercertificate"): ("view",),
    ("sessions_app", "firmware"): ("view", "add", "change", "delete"),
    ("sessions_app", "firmwarecampaign"): ("view", "add"),
    ("sessions_app", "firmwareupdate"): ("view",),
    ("sessions_app", "reservation"): ("view", "add", "change"),
    ("sessions_app", "chargerupload"): ("view",),
    ("sessions_app", "signedmetervalue"): ("view",),
    ("sessions_app", "stationvariable"): ("view",),
    ("sessions_app", "transactionevent"): ("view",),
    ("sessions_app", "loadgroup"): ("view", "add", "change", "delete"),
    ("sessions_app", "loadlimitwindow"): ("view", "add", "change", "delete"),
    ("sessions_app", "connectorallocation"): ("view",),
    ("sessions_app", "sitemeterreading"): ("view",),
    ("billing", "tariff"): ("view", "add", "change", "delete"),
    ("billing", "tariffelement"): ("view", "add", "change", "delete"),
    ("billing", "pricecomponent"): ("view", "add", "change", "delete"),
    ("billing", "tariffassignment"): ("view", "add", "change", "delete"),
    ("billing", "customergroup"): ("view", "add", "change", "delete"),
    ("billing", "customergroupmembership"): ("view", "add", "change", "delete"),
    ("billing", "sessionprice"): ("view",),
    ("billing", "reservationprice"): ("view",),
    ("billing", "creditnote"): ("view", "add"),
    ("billing", "paymentaccount"): ("view", "add", "change"),
    ("billing", "ledgerentry"): ("view",),
    ("billing", "statement"): ("view", "add", "change"),
    ("reporting", "outageexclusion"): ("view", "add", "change", "delete"),
    ("roaming", "operatorparty"): ("view", "add", "change"),
    ("roaming", "partner"): ("view", "add", "change"),
    ("roaming", "pushitem"): ("view",),
    ("roaming", "roamingtoken"): ("view",),
    ("roaming", "roamingsession"): ("view",),
    ("roaming", "cdr"): ("view",),
    ("roaming", "roamingcommand"): ("view",),
    ("reporting", "alertincident"): ("view",),
}


def operator_group_ensure() -> Group:
    """Create the operator staff group if needed and give it exactly the permissions above.

    Permissions that do not exist yet (an app not migrated so far) are skipped; running
    again after every migration fills them in.
    """
    group, _created = Group.objects.get_or_create(name=OPERATOR_GROUP_NAME)
    wanted = Q(pk__in=[])
    for (app_label, model), actions in OPERATOR_PERMISSIONS.items():
        wanted |= Q(
            content_type__app_label=app_label,
            content_type__model=model,
            codename__in=[f"{action}_{model}" for action in actions],
        )
    group.permissions.set(Permission.objects.filter(wanted))
    return group


def operator_group_on_post_migrate(sender, app_config, **kwargs) -> None:
    """post_migrate receiver: runs after each of our apps has got its permissions."""
    if app_config.label in {app_label for app_label, _model in OPERATOR_PERMISSIONS}:
        operator_group_ensure()
