"""Portal accounts in tests: the password a patient sets, and the link in an e-mail."""

import re

NEW_PASSWORD = "violet-kestrel-harbour-42"


def link_in(message):
    return re.search(r"https?://\S+", message.body).group(0)
