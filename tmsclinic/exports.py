"""CSV exports: cells a spreadsheet cannot mistake for formulas, written as they stream."""


def spreadsheet_safe(value):
    """A cell starting with = + - or @ is a formula to a spreadsheet; text typed by staff or
    patients (MRNs, paths, details) is prefixed with an apostrophe so it stays text."""
    text = "" if value is None else str(value)
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


class Echo:
    """A file-like object for csv.writer that hands each written row back (for streaming)."""

    def write(self, value):
        return value
