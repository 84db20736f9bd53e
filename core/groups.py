"""The three operator groups (viewers, engineers, managers), kept in step after every migrate.

Connected from ReceiversConfig.ready. `post_migrate` fires once per app and Django creates
each app's permissions in its own handler, so the handler here first makes sure the
permissions of every app it grants exist, then sets each group to exactly its list in
core/permissions.py (a permission removed from the list is taken away too).
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

from .permissions import GROUPS

GRANTING_APPS = ("core", "receivers", "sites", "firmware_updates")


def operator_groups_sync(*, using: str = "default", verbosity: int = 0) -> None:
    from django.contrib.auth.models import Group, Permission

    for label in GRANTING_APPS:
        create_permissions(global_apps.get_app_config(label), verbosity=verbosity, using=using)
    wanted = set().union(*GROUPS.values())
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using)
        .select_related("content_type")
        .filter(content_type__app_label__in=GRANTING_APPS)
    }
    missing = wanted - set(by_name)
    if missing:
        raise LookupError(f"Permissions not found: {', '.join(sorted(missing))}")
    for name, perms in GROUPS.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set([by_name[perm] for perm in sorted(perms)])


def operator_groups_on_migrate(sender, *, using="default", verbosity=0, plan=None, **kwargs) -> None:
    # The signal fires once per app (and again after `flush`, which empties the groups
    # table): act once, on the app that owns most of the permissions.
    if sender.label != "firmware_updates":
        return
    operator_groups_sync(using=using, verbosity=verbosity)
