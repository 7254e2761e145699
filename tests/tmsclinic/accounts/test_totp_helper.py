"""The tests' own TOTP is the RFC's: its published test vectors."""

import pytest

from .conftest import totp

RFC_6238_SHA1_KEY = b"12345678901234567890"


@pytest.mark.parametrize(("at", "code"), [(59, "94287082"), (1111111109, "07081804"), (20000000000, "65353130")])
def test_the_helper_gives_rfc_6238s_codes(at, code):
    assert totp(RFC_6238_SHA1_KEY, at, digits=8) == code
