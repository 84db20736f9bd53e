"""Who did what to receivers, sites and releases (update jobs keep their own event history).

Written to Django admin's log, so each object's "History" page in the admin shows it and
nothing new has to be kept in step with the models.
"""

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType

__all__ = ["ADDITION", "CHANGE", "operator_action_record"]


def operator_action_record(*, actor, obj, message: str, flag: int = CHANGE) -> None:
    """Record an operator's action on `obj`; nothing for the system (actor None or anonymous)."""
    user = getattr(actor, "user", actor)  # firmware_updates' Actor or a plain user
    if user is None or not getattr(user, "is_authenticated", False):
        return
    LogEntry.objects.create(
        user_id=user.pk,
        content_type=ContentType.objects.get_for_model(obj, for_concrete_model=False),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        action_flag=flag,
        change_message=message,
    )
