from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Operators and audit")

    def ready(self):
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from .db import fold_case_insensitive_lookups, on_connection_created
        from .groups import operator_groups_on_migrate
        from .preferences import on_user_logged_in as preferences_on_user_logged_in
        from .signin import on_user_logged_in, on_user_login_failed

        # The operator groups (core/permissions.py) exist after every migrate.
        post_migrate.connect(operator_groups_on_migrate, dispatch_uid="core.operator_groups")
        # SQLite's UPPER for every letter, not ASCII alone; PostgreSQL's times read in C (core/db.py).
        connection_created.connect(on_connection_created, dispatch_uid="core.connection_created")
        # ... and for Django's case-insensitive lookups there (`name__icontains`).
        fold_case_insensitive_lookups()
        # Failed sign-ins are audited and counted; a success ends its name's count (core/signin.py).
        user_login_failed.connect(on_user_login_failed, dispatch_uid="core.signin_failed")
        user_logged_in.connect(on_user_logged_in, dispatch_uid="core.signin_succeeded")
        # The operator's language and time zone into the new session (core/preferences.py).
        user_logged_in.connect(preferences_on_user_logged_in, dispatch_uid="core.preferences")
