"""What a firmware version is, written once: one to five numbers of at most six digits,
separated by dots ("5.40"), nothing before or after.

Plain Python (an import contract keeps it so): the archive library checks a release's version
with it (firmware_updates.swu.manifest), the registry a panel's (sites.versions), so that
every version stored has a sort key to compare with the others (the eligibility rule's "would
downgrade")."""

import re

VERSION = re.compile(r"\d{1,6}(?:\.\d{1,6}){0,4}")


def is_version(value) -> bool:
    return isinstance(value, str) and VERSION.fullmatch(value) is not None
