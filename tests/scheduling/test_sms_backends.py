import pytest
from twilio.base.exceptions import TwilioRestException

from scheduling import sms


@pytest.fixture
def twilio(settings):
    settings.TWILIO_ACCOUNT_SID = "AC" + "0" * 32
    settings.TWILIO_AUTH_TOKEN = "token"
    settings.TWILIO_FROM = "+15005550006"
    return sms.TwilioBackend()


def refusing(status):
    def create(**kwargs):
        raise TwilioRestException(status=status, uri="/Messages", msg="refused")

    return create


def test_twilio_sends_from_the_configured_number(twilio, monkeypatch):
    sent = []
    monkeypatch.setattr(twilio.client.messages, "create", lambda **kwargs: sent.append(kwargs))
    twilio.send("+12125550123", "Riverside TMS: reminder")
    assert sent == [{"to": "+12125550123", "from_": "+15005550006", "body": "Riverside TMS: reminder"}]


@pytest.mark.parametrize(("status", "error"), [(400, sms.PermanentSendError), (404, sms.PermanentSendError),
                                               (429, sms.TransientSendError), (503, sms.TransientSendError)])
def test_twilio_errors_are_told_apart_for_retrying(twilio, monkeypatch, status, error):
    monkeypatch.setattr(twilio.client.messages, "create", refusing(status))
    with pytest.raises(error):
        twilio.send("+12125550123", "x")


def test_a_network_failure_is_worth_retrying(twilio, monkeypatch):
    def unreachable(**kwargs):
        raise ConnectionResetError("reset by peer")

    monkeypatch.setattr(twilio.client.messages, "create", unreachable)
    with pytest.raises(sms.TransientSendError):
        twilio.send("+12125550123", "x")


def test_the_file_backend_writes_one_line_per_message(settings, tmp_path):
    settings.TMS_SMS_FILE_PATH = str(tmp_path / "sms.jsonl")
    sms.FileBackend().send("+12125550123", "one")
    sms.FileBackend().send("+12125550124", "two")
    lines = (tmp_path / "sms.jsonl").read_text().splitlines()
    assert [line.count('"to"') for line in lines] == [1, 1] and '"two"' in lines[1]
