from django.apps import AppConfig


class ReceiversConfig(AppConfig):
    name = "receivers"
    verbose_name = "Receivers"

    def ready(self):
        from django.db.models.signals import post_migrate

        from securitycenter.groups import operator_groups_on_migrate

        # The operator groups (securitycenter/permissions.py) exist after every migrate.
        post_migrate.connect(operator_groups_on_migrate, dispatch_uid="securitycenter.operator_groups")
