"""Encryption of stored secrets with keys of their own (MultiFernet).

``settings.SECRET_ENCRYPTION_KEYS``: the first key encrypts, every key
decrypts, so a new key is put first and ``manage.py rotate_secret_keys``
re-encrypts everything with it before old keys are dropped.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class SecretUnreadable(Exception):
    pass


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in settings.SECRET_ENCRYPTION_KEYS])


@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the configured keys "
            "(PORTAL_ENCRYPTION_KEYS): re-enter it."
        ) from exc


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
