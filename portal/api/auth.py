"""``Authorization: Bearer <token>`` for scripts, the SDK and the CLI."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from portal import tokens


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].decode("latin-1").lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send the header as “Authorization: Bearer <token>”.")
        try:
            plaintext = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("That token is not valid.") from None
        token = tokens.token_for(plaintext)
        if token is None:
            raise exceptions.AuthenticationFailed(
                "That token is not valid: it may have expired or been revoked. Make a new one on your profile page."
            )
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword  # so a missing token is a 401 with WWW-Authenticate, not a 403


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the token header."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal access token (pat_…)."}
