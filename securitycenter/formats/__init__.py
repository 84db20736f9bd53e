"""Date and time formats, one per language, read by the panel and the admin alike (settings'
FORMAT_MODULE_PATH): every time is shown the same way, with its zone ("T": MSK, CET, UTC).
What is not set here comes from Django's own formats for the language."""
