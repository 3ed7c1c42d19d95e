from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from accounts.roles import operator_group_on_post_migrate

        # Connected after django.contrib.auth's create_permissions (auth is listed first),
        # so each app's permissions exist when the group is brought up to date.
        post_migrate.connect(operator_group_on_post_migrate, dispatch_uid="accounts.operator_group")
