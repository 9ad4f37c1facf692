"""Push subscriptions of the signed-in member's devices (/api/v1/push/…)."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from .. import push
from ..errors import BadRequest, NotFound
from ..i18n import gettext
from . import Ctx, view


def _subscription(ctx: Ctx) -> tuple[str, str, str]:
    data = ctx.data if isinstance(ctx.data, dict) else {}
    endpoint = data.get("endpoint")
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    fields = {}
    if (
        not isinstance(endpoint, str)
        or len(endpoint) > 1000
        or push.endpoint_problem(endpoint, ctx.settings, resolve=False)
    ):
        fields["endpoint"] = gettext("This is not a push address.")
    if not isinstance(p256dh, str) or not 20 <= len(p256dh) <= 200:
        fields["keys.p256dh"] = gettext("This value is not valid.")
    if not isinstance(auth, str) or not 8 <= len(auth) <= 100:
        fields["keys.auth"] = gettext("This value is not valid.")
    if fields:
        raise BadRequest(
            gettext("Some of the data is not right. Please check the marked fields."), fields=fields
        )
    return endpoint, p256dh, auth  # type: ignore[return-value]


@view()
def key(ctx: Ctx) -> Response:
    """The server's public VAPID key, for PushManager.subscribe().
    ---
    responses:
      "200":
        description: "{public_key}: the applicationServerKey, base64url."
      "404":
        description: Push is not set up on this server.
    """
    if not push.configured(ctx.settings):
        raise NotFound(gettext("Notifications are not set up on this server."))
    return JSONResponse({"public_key": ctx.settings.vapid_public_key})


@view()
def subscribe(ctx: Ctx) -> Response:
    """Remember this device for notifications.
    ---
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [endpoint, keys]
            properties:
              endpoint: {type: string, format: uri, maxLength: 1000}
              keys:
                type: object
                required: [p256dh, auth]
                properties:
                  p256dh: {type: string, minLength: 20, maxLength: 200}
                  auth: {type: string, minLength: 8, maxLength: 100}
    responses:
      "200":
        description: Saved.
      "400":
        description: Not a push subscription.
    """
    endpoint, p256dh, auth = _subscription(ctx)
    with ctx.db.write() as session:
        push.subscribe(session, ctx.me, endpoint, p256dh, auth)
    return JSONResponse({"ok": True})


@view()
def unsubscribe(ctx: Ctx) -> Response:
    """Forget this device.
    ---
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [endpoint]
            properties:
              endpoint: {type: string, format: uri}
    responses:
      "200":
        description: Forgotten.
    """
    data = ctx.data if isinstance(ctx.data, dict) else {}
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str):
        raise BadRequest(gettext("This is not a push address."), fields={"endpoint": ""})
    with ctx.db.write() as session:
        push.unsubscribe(session, ctx.me, endpoint)
    return JSONResponse({"ok": True})
