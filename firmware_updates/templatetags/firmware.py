"""Template filters of the update app: stored English sentences in the reader's language."""

from django import template

from ..stored_words import stored_words as _stored_words

register = template.Library()


@register.filter
def stored_words(text: str) -> str:
    """A job's reason or warning, a pause reason: as stored, said in the active language
    (firmware_updates/stored_words.py)."""
    return _stored_words(text)
