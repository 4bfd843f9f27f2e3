"""The pages behind the links an account's mailbox receives (web/accounts/links.py): "check your
email", confirming an address, asking for a new password and choosing it.

A link opened in a mail only shows a page with a button: mail scanners and link previews open
links too, and must not use them up. Only the button's POST uses the link.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post

from web import forms, owner
from web.accounts import links
from web.accounts import service as accounts
from web.accounts.routes import SENT_TO, client_address, password_hasher, throttled
from web.pages import layout, page, redirect_back
from web.problems import InvalidInput
from web.unit import Visit
from web.visit import form_token, shop_of, visit

WRONG_PASSWORD = (
    "That is not the password this link was sent for. Type the one you chose when you registered"
    " (or use the link of the mail that came with the password you remember)."
)
LINK_SPENT = "This link has expired or has been used already. Links work once, and for a limited time."


def token_of(raw: str | None) -> str:
    """A link's token as sent (bounded; anything else simply matches no link)."""
    return (raw or "")[:100]


@get("/account/check-email", name="accounts.check_email")
async def check_email(request: Request) -> Response[str]:
    """What registering or asking for a new password answers, the same whatever the address."""

    def work(v: Visit) -> dict[str, Any]:
        return {**layout(v), "sent": v.session.get(SENT_TO) or {}}

    return page(request, "accounts/check_email.html", await visit(request, work))


async def spent(request: Request, purpose: links.Purpose) -> Response[str]:
    context = await visit(request, layout)
    return page(request, "accounts/link_spent.html", {**context, "purpose": purpose, "message": LINK_SPENT}, 400)


def link_context(v: Visit, token: str, purpose: links.Purpose, errors: dict[str, str]) -> dict[str, Any] | None:
    """What a link's page shows (confirm.html, reset.html), or None when the link is not usable."""
    link = links.holder(v.conn, token, purpose, v.now)
    return None if link is None else {**layout(v), "token": token, "email": link.account.email, "errors": errors}


@get("/account/confirm", name="accounts.confirm")
async def confirm_page(request: Request) -> Response[str]:
    token = token_of(request.query_params.get("token"))
    context = await visit(request, lambda v: link_context(v, token, "confirm", {}))
    if context is None:
        return await spent(request, "confirm")
    return page(request, "accounts/confirm.html", context)


@post("/account/confirm", name="accounts.confirm_submit")
async def confirm_submit(request: Request) -> Response[str]:
    """Confirm with the password the link's registration chose: whoever registered the address
    without reading its mail cannot have a link confirm their password."""
    shop = shop_of(request)
    form = await forms.read(request)
    csrf = form_token(request, form)
    token = token_of(forms.one(form, "token", required=False))
    password = forms.one(form, "password", required=False) or ""
    link = await visit(request, lambda v: links.holder(v.conn, token, "confirm", v.now), csrf=csrf)
    if link is None:
        return await spent(request, "confirm")
    ph = password_hasher(shop.settings)
    if not await accounts.off_loop(accounts.verify, ph, link.password_hash, password):
        errors = {"password": WRONG_PASSWORD}
        context = await visit(request, lambda v: link_context(v, token, "confirm", errors))
        if context is None:
            return await spent(request, "confirm")
        return page(request, "accounts/confirm.html", context, 400)

    def work(v: Visit) -> bool:
        if links.use(v.conn, token, "confirm", v.now) != link.account.id:
            return False
        links.confirm_with(v.conn, link, v.now)
        v.session.set("prefill_email", link.account.email)
        v.session.flash("Your email address is confirmed and your account is ready: log in to use it.", "success")
        return True

    if not await visit(request, work, write=True, csrf=csrf):
        return await spent(request, "confirm")
    return redirect_back(request, "/login")


@get("/account/forgot", name="accounts.forgot")
async def forgot_page(request: Request) -> Response[str]:
    context = await visit(request, layout)
    return page(request, "accounts/forgot.html", {**context, "values": {"email": ""}, "errors": {}})


@post("/account/forgot", name="accounts.forgot_submit")
async def forgot_submit(request: Request) -> Response[str]:
    """Mail a link to choose a new password when the address has an account; answer the same when not."""
    shop = shop_of(request)
    form = await forms.read(request)
    raw_email = forms.one(form, "email", required=False) or ""
    try:
        email = accounts.normalise_email(raw_email)
    except InvalidInput as error:
        context = await visit(request, layout)
        values = {"email": raw_email[:254]}
        return page(
            request, "accounts/forgot.html", {**context, "values": values, "errors": {"email": error.message}}, 400
        )
    address = client_address(request)

    def work(v: Visit) -> int:
        wait = links.take_mail_quota(v.conn, shop.sessions, shop.settings, email, address)
        if wait:
            return wait
        account = accounts.find(v.conn, email)
        if account is not None:
            links.mail_link(v.conn, shop.settings, account, "reset", v.now)
        v.session.set(SENT_TO, {"email": email, "why": "reset"})
        return 0

    wait = await visit(request, work, write=True, csrf=form_token(request, form))
    if wait:
        raise throttled("requests for account mail", wait)
    shop.mail_written()
    return redirect_back(request, "/account/check-email")


@get("/account/reset", name="accounts.reset")
async def reset_page(request: Request) -> Response[str]:
    token = token_of(request.query_params.get("token"))
    context = await visit(request, lambda v: link_context(v, token, "reset", {}))
    if context is None:
        return await spent(request, "reset")
    return page(request, "accounts/reset.html", context)


@post("/account/reset", name="accounts.reset_submit")
async def reset_submit(request: Request) -> Response[str]:
    """A new password from a reset link: every session of the account ends, this one included."""
    shop = shop_of(request)
    form = await forms.read(request)
    csrf = form_token(request, form)
    token = token_of(forms.one(form, "token", required=False))
    new = forms.one(form, "new_password", required=False)
    link = await visit(request, lambda v: links.holder(v.conn, token, "reset", v.now), csrf=csrf)
    if link is None:
        return await spent(request, "reset")
    account = link.account
    try:
        checked = accounts.check_new_password(new, account.email)
    except InvalidInput as error:
        errors = {"new_password": error.message}
        context = await visit(request, lambda v: link_context(v, token, "reset", errors))
        if context is None:
            return await spent(request, "reset")
        return page(request, "accounts/reset.html", context, 400)
    new_hash = await accounts.off_loop(password_hasher(shop.settings).hash, checked)

    def work(v: Visit) -> bool:
        if links.use(v.conn, token, "reset", v.now) != account.id:
            return False
        accounts.set_password(v.conn, account.id, new_hash)
        links.confirm(v.conn, account.id, v.now)  # the link proves the mailbox
        links.end_links(v.conn, account.id, "reset", v.now)
        links.end_links(v.conn, account.id, "confirm", v.now)
        shop.sessions.end_user_sessions(v.conn, account.id)
        if owner.signed_in(v.session) is not None:
            owner.log_out(v)
        v.session.set("prefill_email", account.email)
        v.session.flash(
            "Your password is changed, and every session of your account is logged out: log in with the new one.",
            "success",
        )
        return True

    if not await visit(request, work, write=True, csrf=csrf):
        return await spent(request, "reset")
    return redirect_back(request, "/login")


router = Router(
    path="/",
    route_handlers=[check_email, confirm_page, confirm_submit, forgot_page, forgot_submit, reset_page, reset_submit],
)
