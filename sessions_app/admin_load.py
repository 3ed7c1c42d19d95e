"""Load groups in the admin (issue 17): a site's power limit, its lower-limit windows and the chargers sharing it.

Scoped to the operator's own sites. A group's charge points are its site's, and a charge point is managed by one
enabled group at most (a group with none chosen manages every charge point of its site that no other enabled
group names, ``load_management.load_group_charge_points``). Each save queues a
rebalance (``load_triggers.load_rebalance_soon``), so a changed limit or window reaches the chargers in seconds.
"""

from typing import cast

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from core.admin_scoping import OrganizationScopedAdmin
from sessions_app.load_management import load_group_charge_points
from sessions_app.load_triggers import load_rebalance_soon
from sessions_app.models import ChargePoint, LoadGroup, LoadLimitWindow, Site


def groups_sharing(
    *, site: Site, charge_points: list[ChargePoint], exclude_pk: int | None
) -> list[tuple[LoadGroup, list[ChargePoint]]]:
    """The site's other enabled groups that would manage a charge point with a group of ``charge_points``: those
    naming one of them, each with those; with none chosen (every charge point of the site no other group names,
    ``load_management.load_group_charge_points``), another group of the whole site, with an empty list."""
    others = LoadGroup.objects.filter(site=site, enabled=True).prefetch_related("charge_points")
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    clashes: list[tuple[LoadGroup, list[ChargePoint]]] = []
    for other in others:
        theirs = list(other.charge_points.all())
        if not charge_points and not theirs:
            clashes.append((other, []))
        elif shared := [charge_point for charge_point in charge_points if charge_point in theirs]:
            clashes.append((other, shared))
    return clashes


class LoadGroupForm(forms.ModelForm):
    class Meta:
        model = LoadGroup
        fields = [
            "site",
            "name",
            "enabled",
            "limit_unit",
            "limit",
            "phases",
            "voltage",
            "other_loads_kw",
            "site_meter",
            "rotation_minutes",
            "charge_points",
        ]

    def clean(self):
        data = super().clean()
        site, charge_points = data.get("site"), data.get("charge_points")
        if site is None or charge_points is None:
            return data
        charge_points = list(charge_points)
        elsewhere = [charge_point for charge_point in charge_points if charge_point.site_id != site.pk]
        if elsewhere:
            self.add_error(
                "charge_points",
                _("Not at %(site)s: %(charge_points)s.")
                % {"site": site, "charge_points": ", ".join(str(charge_point) for charge_point in elsewhere)},
            )
            return data
        if not data.get("enabled"):
            return data
        for other, shared in groups_sharing(site=site, charge_points=charge_points, exclude_pk=self.instance.pk):
            if shared:
                message = _("%(group)s already manages %(charge_points)s: a charge point shares one limit only.") % {
                    "group": other.name,
                    "charge_points": ", ".join(str(charge_point) for charge_point in shared),
                }
            else:
                message = _(
                    "%(group)s already manages the site's charge points that no group names: choose this group's "
                    "charge points."
                ) % {"group": other.name}
            self.add_error("charge_points", message)
        return data


class LoadLimitWindowInline(admin.TabularInline):
    model = LoadLimitWindow
    fields = ["weekdays", "start", "end", "limit"]
    extra = 0


@admin.register(LoadGroup)
class LoadGroupAdmin(OrganizationScopedAdmin):
    organization_path = "site__organization"
    form = LoadGroupForm
    list_display = ["name", "site", "limit_display", "enabled", "managed_count", "live_view"]
    list_display_links = ["name"]
    list_filter = ["enabled", ("site", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["site"]
    search_fields = ["name", "site__name"]
    inlines = [LoadLimitWindowInline]
    filter_horizontal = ["charge_points"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(chosen_count=Count("charge_points"))

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None:  # the site's charge points only; on a new group the form's clean checks the site
            field = cast(forms.ModelMultipleChoiceField, form.base_fields["charge_points"])
            field.queryset = field.queryset.filter(site=obj.site_id)
        return form

    @admin.display(description=_("limit"), ordering="limit")
    def limit_display(self, obj):
        return f"{obj.limit} {obj.get_limit_unit_display()}"

    @admin.display(description=_("charge points"))
    def managed_count(self, obj):
        if obj.chosen_count:
            return obj.chosen_count
        return _("%(count)d (the site's)") % {"count": len(load_group_charge_points(obj))}

    @admin.display(description=_("live view"))
    def live_view(self, obj):
        try:  # the page is reporting's (reporting.admin_load), installed with it
            url = reverse("admin:reporting_load_group", args=[obj.pk])
        except NoReverseMatch:
            return ""
        return format_html('<a href="{}">{}</a>', url, _("Power and shares"))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        load_rebalance_soon(form.instance.pk)

    def delete_model(self, request, obj):
        load_rebalance_soon(obj.pk)  # before: it finds the chargers the group manages, to let them go once it is gone
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for pk in queryset.values_list("pk", flat=True):
            load_rebalance_soon(pk)
        super().delete_queryset(request, queryset)
