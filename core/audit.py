"""Who did what to receivers, sites and releases (update jobs keep their own event history).

Written to Django admin's log, so each object's "History" page in the admin shows it and
nothing new has to be kept in step with the models.
"""

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import translation

from .audit_words import CHANGED

__all__ = ["ADDITION", "CHANGE", "changed_fields", "changes_message", "fields_update", "operator_action_record"]


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


def changed_fields(stored, changes: dict, allowed) -> dict:
    """The `changes` that differ from `stored` (the row as read by the service, not an instance
    a form has already changed); a field outside `allowed` is a programming error."""
    if unknown := set(changes) - set(allowed):
        raise TypeError(f"{type(stored).__name__} fields not changed here: {', '.join(sorted(unknown))}")
    return {name: value for name, value in changes.items() if getattr(stored, name) != value}


def changes_message(model, names) -> str:
    """"Changed name, poll sleep.": the fields `names` of `model` in the operators' words, in the model's order."""
    fields = [f for f in model._meta.concrete_fields if f.name in set(names)]
    # Stored in English whatever the operator reads (core.audit_words says it again).
    with translation.override("en"):
        return CHANGED.format(fields=", ".join(str(f.verbose_name) for f in fields))


def fields_update(obj, *, actor, changes: dict, allowed, clean: bool = False) -> dict:
    """Write the `changes` that differ from `obj`'s stored row (row locked, model validation
    if `clean`), only those columns, and record them as `actor`'s action; returns them.

    For services whose edit is just that (a receiver's name, a release's description); call
    it inside the service's transaction.
    """
    stored = type(obj).objects.select_for_update().get(pk=obj.pk)
    changes = changed_fields(stored, changes, allowed)
    for name, value in changes.items():
        setattr(stored, name, value)
        setattr(obj, name, value)
    if changes:
        if clean:
            stored.full_clean()
        stored.save(update_fields=list(changes))
        operator_action_record(actor=actor, obj=obj, message=changes_message(type(obj), changes))
    return changes
