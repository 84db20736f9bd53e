"""An archive's refusal in the operator's language.

The archive library (`swu`) knows no Django: it refuses with a stable code and English
`Words` (a template and its values, swu/errors.py). Here, at the edge, the template is looked
up in the catalogue (`manage.py extractmessages` takes the library's templates into it) and
filled in; a value that is itself Words (a part of the archive, a reason within a reason) is
said the same way, any other value (a file name, a version, a size) is data and stays as it is.
"""

from django.utils.translation import gettext

from .swu import ArchiveError, Words


def archive_words(words: Words | ArchiveError) -> str:
    """`words` (or an ArchiveError's) in the active language."""
    if isinstance(words, ArchiveError):
        words = words.words
    params = {name: archive_words(value) if isinstance(value, Words) else value
              for name, value in words.params.items()}
    return gettext(words.template).format(**params)
