"""SMS backends, chosen by settings.TMS_SMS_BACKEND, in the style of Django's e-mail backends.

Each backend's ``send(to, body)`` returns nothing on success and raises
``TransientSendError`` (worth retrying) or ``PermanentSendError`` (not).
"""

import json
import threading
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class SendError(Exception):
    pass


class TransientSendError(SendError):
    """The provider or network failed this time; the same message may go through later."""


class PermanentSendError(SendError):
    """The message can never be sent as it is (bad number, account refused it)."""


def get_backend():
    return import_string(settings.TMS_SMS_BACKEND)()


class ConsoleBackend:
    """Prints messages; the default for development."""

    def send(self, to, body):
        print(f"SMS to {to}: {body}")  # noqa: T201


class FileBackend:
    """Appends one JSON line per message to a file (TMS_SMS_FILE_PATH): for a demo or a test
    that reads what a separate worker process sent."""

    lock = threading.Lock()

    def send(self, to, body):
        path = Path(settings.TMS_SMS_FILE_PATH)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"to": to, "body": body, "at": timezone.now().isoformat()})
        with self.lock, path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")


outbox = []


class InMemoryBackend:
    """Keeps messages in ``scheduling.sms.outbox``, like Django's locmem e-mail backend."""

    def send(self, to, body):
        outbox.append({"to": to, "body": body})


class TwilioBackend:
    """Sends through Twilio's Messages API (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM)."""

    def __init__(self):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        # A short timeout: a slow provider must not hold a worker's whole batch.
        self.client = Client(settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN,
                             http_client=TwilioHttpClient(timeout=10))

    def send(self, to, body):
        from twilio.base.exceptions import TwilioRestException

        try:
            self.client.messages.create(to=to, from_=settings.TWILIO_FROM, body=body)
        except TwilioRestException as error:
            # 4xx means this message is wrong (bad number, opted out); 429 and 5xx may pass later.
            if error.status == 429 or error.status >= 500:
                raise TransientSendError(str(error)) from error
            raise PermanentSendError(str(error)) from error
        except OSError as error:
            raise TransientSendError(str(error)) from error
