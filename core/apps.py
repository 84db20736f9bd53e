from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core"

    def ready(self):
        from django.db.models.signals import post_migrate

        from .groups import operator_groups_on_migrate

        # The operator groups (core/permissions.py) exist after every migrate.
        post_migrate.connect(operator_groups_on_migrate, dispatch_uid="core.operator_groups")
