"""Register, log in, log out and the account page, for forms and for the JSON API.

Logging in runs in three steps so the slow password check never holds the database: a read
unit (session, CSRF, throttle, account), the Argon2 check in a worker thread, then one write
unit that merges the guest cart, counts or clears failures and rotates the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from argon2 import PasswordHasher
from litestar import Request, Response, Router, get, post

from web import forms
from web.accounts import service as accounts
from web.api import json_object, require_json
from web.cart import service as cart
from web.forms import safe_next
from web.owner import resolve_owner, user_cart
from web.pages import html, is_htmx, layout, page, redirect_back, sent_csrf_token
from web.problems import InvalidInput, Problem
from web.settings import Settings
from web.visit import Shop, Visit, visit

WRONG_CREDENTIALS = "That email and password do not match an account. Check them and try again."
THROTTLED = "Too many attempts to log in. Please wait a few minutes and try again."
ACCOUNT_READY = "Your account is ready: log in with your email and password."


class WrongCredentials(Problem):
    status = 401
    code = "INVALID_CREDENTIALS"


@dataclass(frozen=True)
class LoggedIn:
    account: accounts.Account
    report: cart.MergeReport


def password_hasher(settings: Settings) -> PasswordHasher:
    return accounts.hasher(settings.argon2_memory_kib, settings.argon2_time_cost, settings.argon2_parallelism)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def merge_guest_cart(v: Visit, user_id: int) -> cart.MergeReport:
    """Move the guest cart into the user's; a failure is reported, never raised, and the guest cart kept."""
    owner = resolve_owner(v)
    guest_cart_id = owner.cart_id if owner.kind == "guest" else v.session.get("unmerged_cart_id")
    target = user_cart(v, user_id)
    report = cart.MergeReport()
    if guest_cart_id is not None and guest_cart_id != target:
        try:
            with v.conn.begin_nested():
                report = cart.merge(v.conn, guest_cart_id, target, v.settings.max_line_quantity, v.now)
            v.session.pop("unmerged_cart_id")
        except Exception:
            report = cart.MergeReport(failed=True)
            v.session.set("unmerged_cart_id", guest_cart_id)
    v.session.set("cart_id", target)
    v.metrics.merges.labels("failed" if report.failed else "merged" if report.lines else "empty").inc()
    return report


def log_in(v: Visit, account: accounts.Account) -> None:
    v.session.set("user_id", account.id)
    v.session.set("user_email", account.email)
    v.session.set("user_name", account.display_name)
    v.session.new_csrf_token()
    v.session.rotate()


async def attempt_login(
    request: Request, email: str, password: str, csrf: str | bool | None, *, flash: bool = False
) -> LoggedIn:
    shop: Shop = request.app.state.shop
    settings = shop.settings
    keys = accounts.throttle_keys(email, client_address(request))
    limits = {
        keys["account"]: settings.login_max_failures_per_account,
        keys["address"]: settings.login_max_failures_per_address,
    }

    def look_up(v: Visit) -> tuple[int, accounts.Account | None]:
        return shop.sessions.throttle_wait(v.conn, limits), accounts.find(v.conn, email)

    wait, account = await visit(request, look_up, csrf=csrf)
    if wait:
        shop.metrics.login_throttled.inc()
        raise accounts.TooManyAttempts(THROTTLED, wait)
    ph = password_hasher(settings)

    def check() -> tuple[bool, str | None]:
        """Verify (a dummy hash for unknown emails keeps the timing alike) and rehash if parameters rose."""
        stored = account.password_hash if account else accounts.dummy_hash(ph)
        ok = accounts.verify(ph, stored, password) and account is not None
        return ok, ph.hash(password) if ok and ph.check_needs_rehash(stored) else None

    ok, new_hash = await anyio.to_thread.run_sync(check)

    def finish(v: Visit) -> LoggedIn | None:
        if not ok or account is None:
            shop.sessions.throttle_hit(v.conn, list(limits), settings.login_failure_window_seconds)
            return None
        shop.sessions.throttle_clear(v.conn, keys["account"])
        if new_hash:
            accounts.set_password(v.conn, account.id, new_hash)
        report = merge_guest_cart(v, account.id)
        log_in(v, account)
        if flash:
            v.session.flash(f"Welcome back, {account.display_name or account.email}.", "success")
            if report.message:
                v.session.flash(report.message, "error" if report.failed else "info")
        return LoggedIn(account, report)

    result = await visit(request, finish, write=True, csrf=csrf)
    if result is None:
        raise WrongCredentials(WRONG_CREDENTIALS)
    return result


async def show_form(
    request: Request, template: str, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response[str]:
    context = await visit(request, layout)
    return page(request, template, {**context, "values": values, "errors": errors}, status)


@get("/login", name="accounts.login")
async def login_page(request: Request) -> Response[str]:
    next_path = safe_next(request.query_params.get("next"), "/")

    def work(v: Visit) -> dict[str, Any] | None:
        if v.session.get("user_id") is not None:
            return None  # already logged in: go where the login would have led
        return {**layout(v), "values": {"email": v.session.pop("prefill_email", ""), "next": next_path}, "errors": {}}

    context = await visit(request, work)
    if context is None:
        return redirect_back(request, next_path)
    return page(request, "accounts/login.html", context)


@post("/login", name="accounts.login_submit")
async def login_submit(request: Request) -> Response[str]:
    form = await forms.read(request)
    next_path = safe_next(forms.one(form, "next", required=False), "/")
    raw_email = forms.one(form, "email", required=False) or ""
    values = {"email": raw_email[:254], "next": next_path}
    try:
        email = accounts.normalise_email(raw_email)
        password = forms.one(form, "password", label="password")
        assert password is not None
        await attempt_login(request, email, password, sent_csrf_token(request, form), flash=True)
    except (InvalidInput, WrongCredentials) as error:
        return await show_form(
            request, "accounts/login.html", values, {error.field or "form": error.message}, error.status
        )
    if is_htmx(request):
        return html("", headers={"HX-Redirect": next_path})
    return redirect_back(request, next_path)


@get("/register", name="accounts.register")
async def register_page(request: Request) -> Response[str]:
    next_path = safe_next(request.query_params.get("next"), "/")
    return await show_form(request, "accounts/register.html", {"email": "", "display_name": "", "next": next_path}, {})


@post("/register", name="accounts.register_submit")
async def register_submit(request: Request) -> Response[str]:
    """Create the account, and answer exactly alike whether or not the email was already registered."""
    form = await forms.read(request)
    settings: Settings = request.app.state.shop.settings
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
    password_hash = await anyio.to_thread.run_sync(password_hasher(settings).hash, password)

    def create(v: Visit) -> None:
        accounts.create(v.conn, email, password_hash, name, v.now)
        v.session.set("prefill_email", email)
        v.session.flash(ACCOUNT_READY, "success")

    await visit(request, create, write=True, csrf=sent_csrf_token(request, form))
    return redirect_back(request, "/login?" + urlencode({"next": next_path}) if next_path != "/" else "/login")


@post("/logout", name="accounts.logout")
async def logout(request: Request) -> Response[str]:
    form = await forms.read(request)

    def work(v: Visit) -> None:
        end_session(v)
        v.session.flash("You have been logged out. Your cart is kept in your account.", "info")

    await visit(request, work, write=True, csrf=sent_csrf_token(request, form))
    return redirect_back(request, "/")


def end_session(v: Visit) -> None:
    """Logout: the stored session is deleted and a fresh guest session takes its place.

    It starts empty, except for a guest cart whose merge failed at login: that stays the guest's,
    to be merged at the next login.
    """
    unmerged = v.session.get("unmerged_cart_id")
    v.session.reset()
    v.session.rotate()
    if unmerged is not None:
        v.session.set("cart_id", unmerged)


@get("/account", name="accounts.account")
async def account_page(request: Request) -> Response[str]:
    def work(v: Visit) -> dict[str, Any] | None:
        user_id = v.session.get("user_id")
        account = accounts.by_id(v.conn, user_id) if user_id is not None else None
        return {**layout(v), "account": account, "errors": {}} if account else None

    context = await visit(request, work)
    if context is None:
        return redirect_back(request, "/login?next=/account")
    return page(request, "accounts/account.html", context)


@post("/account/password", name="accounts.change_password")
async def change_password(request: Request) -> Response[str]:
    shop: Shop = request.app.state.shop
    form = await forms.read(request)
    csrf = sent_csrf_token(request, form)
    current = forms.one(form, "current_password", required=False) or ""
    new = forms.one(form, "new_password", required=False)

    def who(v: Visit) -> accounts.Account | None:
        user_id = v.session.get("user_id")
        return accounts.by_id(v.conn, user_id) if user_id is not None else None

    account = await visit(request, who, csrf=csrf)
    if account is None:
        return redirect_back(request, "/login?next=/account")

    async def refuse(field: str, message: str) -> Response[str]:
        def work(v: Visit) -> dict[str, Any]:
            return {**layout(v), "account": account, "errors": {field: message}}

        return page(request, "accounts/account.html", await visit(request, work), 400)

    try:
        accounts.check_new_password(new, account.email)
    except InvalidInput as error:
        return await refuse("new_password", error.message)
    assert new is not None
    ph = password_hasher(shop.settings)
    if not await anyio.to_thread.run_sync(accounts.verify, ph, account.password_hash, current):
        return await refuse("current_password", "Your current password is not right.")
    new_hash = await anyio.to_thread.run_sync(ph.hash, new)

    def work(v: Visit) -> None:
        accounts.set_password(v.conn, account.id, new_hash)
        v.session.rotate()
        v.session.new_csrf_token()
        shop.sessions.end_user_sessions(v.conn, account.id, keep=v.session)
        v.session.flash("Your password was changed. Every other session of your account was logged out.", "success")

    await visit(request, work, write=True, csrf=csrf)
    return redirect_back(request, "/account")


@post("/api/auth/email-login", name="api.auth_login", status_code=200)
async def api_login(request: Request) -> dict[str, Any]:
    body = await json_object(request)
    email_raw, password = body.get("email"), body.get("password")
    if not isinstance(email_raw, str):
        raise InvalidInput("email must be a string.", field="email")
    if not isinstance(password, str) or not password:
        raise InvalidInput("password must be a non-empty string.", field="password")
    result = await attempt_login(request, accounts.normalise_email(email_raw), password, False)
    report = result.report
    return {
        "user": {"id": result.account.id, "email": result.account.email},
        "merge": {"added": report.added, "failed": report.failed, "message": report.message},
    }


@post("/api/auth/logout", name="api.auth_logout", status_code=200)
async def api_logout(request: Request) -> dict[str, Any]:
    require_json(request)
    await visit(request, end_session, write=True)
    return {"user": None}


@get("/api/auth/me", name="api.auth_me")
async def api_me(request: Request) -> dict[str, Any]:
    def work(v: Visit) -> dict[str, Any]:
        user_id = v.session.get("user_id")
        return {"user": {"id": user_id, "email": v.session.get("user_email")} if user_id is not None else None}

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
