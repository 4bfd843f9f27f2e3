"""Register, log in, log out and the account page, for forms and for the JSON API.

Logging in runs in three steps so the slow password check never holds the database: a read
unit (session, CSRF, throttle, account), the Argon2 check in a worker thread, then one write
unit that merges the guest cart, counts or clears failures and rotates the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from litestar import Request, Response, Router, get, post

from web import api_types, faults, forms, owner
from web.accounts import links
from web.accounts import service as accounts
from web.api import decoded, require_json
from web.cart import service as cart
from web.cart.store import MergeReport
from web.forms import safe_next
from web.guards import LOGIN_FIRST, requires_user, user_of
from web.locality import service as locality
from web.pages import go_to, layout, page, redirect_back
from web.problems import InvalidInput, LoginRequired, SessionNotSaved, TooManyAttempts, WrongCredentials
from web.settings import Settings
from web.unit import Shop, Visit
from web.visit import JSON_CALL, FormToken, JsonCall, form_token, shop_of, visit

# Also the answer for an unconfirmed account's right password: anything else would tell whoever
# registered an address (and so knows the password) whether it had an account before.
WRONG_CREDENTIALS = (
    "That email and password do not match an account. Check them and try again."
    " Registered just now? Open the link we mailed you first."
)
# Where the "check your email" page finds what was sent (the address, and why).
SENT_TO = "sent_to"


def throttled(what: str, wait: int) -> TooManyAttempts:
    """The refusal of an attempt past its throttle, with the wait in words and in Retry-After."""
    minutes = -(-wait // 60)
    words = f"{wait} second{'s' * (wait != 1)}" if wait < 60 else f"{minutes} minute{'s' * (minutes != 1)}"
    return TooManyAttempts(f"Too many {what}. Please wait {words} and try again.", wait)


@dataclass(frozen=True)
class LoggedIn:
    account: accounts.Account
    report: MergeReport


def password_hasher(settings: Settings) -> PasswordHasher:
    return accounts.hasher(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def attempt_login(
    request: Request, shop: Shop, email: str, password: str, csrf: FormToken | JsonCall, *, flash: bool = False
) -> LoggedIn:
    settings = shop.settings
    address = client_address(request)
    attempt = accounts.attempt_of(email, address)

    def take(v: Visit) -> tuple[int, accounts.Account | None]:
        return accounts.take_attempt(v.conn, shop.sessions, settings, attempt), accounts.find(v.conn, email)

    # Counted (and committed) before the password is checked: see accounts.take_attempt.
    wait, account = await visit(request, take, write=True, csrf=csrf)
    if wait:
        shop.metrics.login_throttled.inc()
        raise throttled("attempts to log in", wait)
    ph = password_hasher(settings)

    def check() -> tuple[bool, str | None]:
        """Verify (a dummy hash for unknown emails keeps the timing alike) and rehash if parameters rose."""
        stored = account.password_hash if account else accounts.dummy_hash(ph)
        ok = accounts.verify(ph, stored, password) and account is not None
        return ok, ph.hash(password) if ok and ph.check_needs_rehash(stored) else None

    ok, new_hash = await accounts.off_loop(check)
    if not ok or account is None:
        raise WrongCredentials(WRONG_CREDENTIALS)  # already counted
    if not account.confirmed:
        if await visit(request, lambda v: remind(v, shop, account, address), write=True, csrf=csrf):
            shop.mail_written()
        raise WrongCredentials(WRONG_CREDENTIALS)

    def finish(v: Visit) -> LoggedIn | None:
        if not accounts.logged_in(v.conn, account.id, account.password_hash, v.now):
            return None  # the password changed while this one was checked: it is no longer the password
        accounts.attempt_succeeded(v.conn, shop.sessions, attempt)
        if new_hash:
            accounts.set_password(v.conn, account.id, new_hash)
        cart_id, report = cart.merge_at_login(v, account.id)
        locality.at_login(v, account.id, account.delivery_country, account.delivery_postcode)
        owner.log_in(v, owner.SignedIn(account.id, account.email, account.display_name), cart_id)
        if flash:
            welcome = "Welcome back" if account.returning else "Welcome"
            v.session.flash(f"{welcome}, {account.display_name or account.email}.", "success")
            if report.message:
                v.session.flash(report.message, "error" if report.failed else "info")
        return LoggedIn(account, report)

    logged_in = await visit(request, finish, write=True, csrf=csrf)
    if logged_in is None:
        raise WrongCredentials(WRONG_CREDENTIALS)
    session_kept(request, "log you in", "Your cart is safe: it will be there when you log in.")
    return logged_in


def session_kept(request: Request, doing: str, reassurance: str = "") -> None:
    """A login or logout is done once its session is stored: if the store failed after the unit
    committed (Session.not_stored()), the browser is still who it was, and is told so."""
    if request.scope["state"]["session"].save_error is not None:
        raise SessionNotSaved(
            f"We could not {doing} just now. Please try again in a few seconds. {reassurance}".strip()
        )


def remind(v: Visit, shop: Shop, account: accounts.Account, address: str) -> bool:
    """The right password for an unconfirmed account: quietly, a new confirmation link for it,
    within the mail quota; whether one was sent. (The attempt stays counted, like a wrong one.)"""
    if links.take_mail_quota(v.conn, shop.sessions, shop.settings, account.email, address):
        return False
    links.mail_link(v.conn, shop.settings, account, "confirm", v.now, account.password_hash)
    return True


async def show_form(
    request: Request, template: str, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response[str]:
    context = await visit(request, layout)
    return page(request, template, {**context, "values": values, "errors": errors}, status)


@get("/login", name="accounts.login")
async def login_page(request: Request) -> Response[str]:
    next_path = safe_next(request.query_params.get("next"), "/")

    def work(v: Visit) -> dict[str, Any] | None:
        if owner.signed_in(v.session) is not None:
            return None  # already logged in: go where the login would have led
        return {**layout(v), "values": {"email": v.session.pop("prefill_email", ""), "next": next_path}, "errors": {}}

    context = await visit(request, work)
    if context is None:
        return redirect_back(request, next_path)
    return page(request, "accounts/login.html", context)


@post("/login", name="accounts.login_submit")
async def login_submit(request: Request) -> Response[str]:
    shop = shop_of(request)
    form = await forms.read(request)
    next_path = safe_next(forms.one(form, "next", required=False), "/")
    raw_email = forms.one(form, "email", required=False) or ""
    values = {"email": raw_email[:254], "next": next_path}
    try:
        email = accounts.normalise_email(raw_email)
        password = forms.one(form, "password", label="password")
        assert password is not None
        await attempt_login(request, shop, email, password, form_token(request, form), flash=True)
    except (InvalidInput, WrongCredentials) as error:
        return await show_form(
            request, "accounts/login.html", values, {error.field or "form": error.message}, error.status
        )
    return go_to(request, next_path)


@get("/register", name="accounts.register")
async def register_page(request: Request) -> Response[str]:
    next_path = safe_next(request.query_params.get("next"), "/")
    return await show_form(request, "accounts/register.html", {"email": "", "display_name": "", "next": next_path}, {})


@post("/register", name="accounts.register_submit")
async def register_submit(request: Request) -> Response[str]:
    """Register (web/accounts/links.py): the same answer, "check your email", whether or not the
    address has an account; only the mail its owner receives differs."""
    shop = shop_of(request)
    form = await forms.read(request)
    settings: Settings = shop.settings
    next_path = safe_next(forms.one(form, "next", required=False), "/")
    raw_email = forms.one(form, "email", required=False) or ""
    values = {"email": raw_email[:254], "display_name": "", "next": next_path}
    try:
        email = accounts.normalise_email(raw_email)
        name = accounts.check_display_name(forms.one(form, "display_name", required=False))
        values["display_name"] = name
        password = accounts.check_new_password(forms.one(form, "password", required=False), email)
    except InvalidInput as error:
        return await show_form(request, "accounts/register.html", values, {error.field or "form": error.message}, 400)
    address = client_address(request)

    def take(v: Visit) -> int:
        return links.take_mail_quota(v.conn, shop.sessions, settings, email, address)

    wait = await visit(request, take, write=True, csrf=form_token(request, form))
    if wait:
        raise throttled("requests for account mail", wait)
    password_hash = await accounts.off_loop(password_hasher(settings).hash, password)

    def create(v: Visit) -> None:
        links.register(v.conn, settings, email, password_hash, name, v.now)
        v.session.set(SENT_TO, {"email": email, "why": "register", "next": next_path})

    await visit(request, create, write=True, csrf=form_token(request, form))
    shop.mail_written()
    return redirect_back(request, "/account/check-email")


@post("/logout", name="accounts.logout")
async def logout(request: Request) -> Response[str]:
    form = await forms.read(request)

    def work(v: Visit) -> None:
        owner.log_out(v)
        v.session.flash("You have been logged out. Your cart is kept in your account.", "info")
        faults.pause_point(v.settings, "logout")

    await visit(request, work, write=True, csrf=form_token(request, form))
    session_kept(request, "log you out")
    return redirect_back(request, "/")


def account_of(v: Visit) -> accounts.Account:
    """The logged-in user's account; an account deleted under a live session is a login required."""
    account = accounts.by_id(v.conn, user_of(v))
    if account is None:
        raise LoginRequired(LOGIN_FIRST)
    return account


@get("/account", name="accounts.account", guards=[requires_user])
async def account_page(request: Request) -> Response[str]:
    def work(v: Visit) -> dict[str, Any]:
        return {**layout(v), "account": account_of(v), "errors": {}}

    return page(request, "accounts/account.html", await visit(request, work))


@post("/account/password", name="accounts.change_password", guards=[requires_user])
async def change_password(request: Request) -> Response[str]:
    shop = shop_of(request)
    form = await forms.read(request)
    csrf = form_token(request, form)
    current = forms.one(form, "current_password", required=False) or ""
    new = forms.one(form, "new_password", required=False)
    account = await visit(request, account_of, csrf=csrf)

    async def refuse(field: str, message: str) -> Response[str]:
        def work(v: Visit) -> dict[str, Any]:
            return {**layout(v), "account": account, "errors": {field: message}}

        return page(request, "accounts/account.html", await visit(request, work), 400)

    try:
        accounts.check_new_password(new, account.email)
    except InvalidInput as error:
        return await refuse("new_password", error.message)
    assert new is not None
    attempt = accounts.attempt_of(account.email, client_address(request))

    def take(v: Visit) -> int:
        return accounts.take_attempt(v.conn, shop.sessions, shop.settings, attempt)

    # Counted like a login (see accounts.take_attempt): a stolen session cannot guess the password.
    wait = await visit(request, take, write=True, csrf=csrf)
    if wait:
        shop.metrics.login_throttled.inc()
        raise throttled("wrong current passwords", wait)
    ph = password_hasher(shop.settings)
    if not await accounts.off_loop(accounts.verify, ph, account.password_hash, current):
        return await refuse("current_password", "Your current password is not right.")
    new_hash = await accounts.off_loop(ph.hash, new)

    def work(v: Visit) -> None:
        # Still this account's session, and still the password just checked (a reset by mail may
        # have ended the session or changed it meanwhile): else nothing changes.
        if account_of(v).password_hash != account.password_hash:
            raise InvalidInput("Your password was changed meanwhile: log in again.", field="current_password")
        accounts.attempt_succeeded(v.conn, shop.sessions, attempt)
        accounts.set_password(v.conn, account.id, new_hash)
        links.end_links(v.conn, account.id, "reset", v.now)  # a link asked for before is no way back in
        v.session.rotate()
        shop.sessions.end_user_sessions(v.conn, account.id, keep=v.session)
        v.session.flash("Your password was changed. Every other session of your account was logged out.", "success")

    await visit(request, work, write=True, csrf=csrf)
    return redirect_back(request, "/account")


@post(
    "/api/auth/email-login",
    name="api.auth_login",
    status_code=200,
    opt={"body": api_types.Login, "answer": api_types.LoggedIn},
)
async def api_login(request: Request) -> dict[str, Any]:
    """Log in: the session cookie this sets is who you are from now on, and the guest cart is merged
    into the account's (summed, clamped, reported in `merge`). Wrong passwords are throttled (429)."""
    shop = shop_of(request)
    body = await decoded(request, api_types.Login)
    result = await attempt_login(request, shop, accounts.normalise_email(body.email), body.password, JSON_CALL)
    report = result.report
    return {
        "user": {"id": result.account.id, "email": result.account.email},
        "merge": {"added": report.added, "failed": report.failed, "message": report.message},
    }


@post("/api/auth/logout", name="api.auth_logout", status_code=200, opt={"answer": api_types.Me})
async def api_logout(request: Request) -> dict[str, Any]:
    """Log out: the session ends, and with it the cookie's access to the account and its cart."""
    require_json(request)
    await visit(request, owner.log_out, write=True, csrf=JSON_CALL)
    session_kept(request, "log you out")
    return {"user": None}


@get("/api/auth/me", name="api.auth_me", opt={"answer": api_types.Me})
async def api_me(request: Request) -> dict[str, Any]:
    """Who the session is logged in as, or `null`."""

    def work(v: Visit) -> dict[str, Any]:
        user = owner.signed_in(v.session)
        return {"user": {"id": user.id, "email": user.email} if user is not None else None}

    return await visit(request, work)


router = Router(
    path="/",
    route_handlers=[
        login_page,
        login_submit,
        register_page,
        register_submit,
        logout,
        account_page,
        change_password,
        api_login,
        api_logout,
        api_me,
    ],
)
