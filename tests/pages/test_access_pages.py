"""Sign-in, sign-out and the access part of the settings page, through NiceGUI's simulated user."""

from __future__ import annotations

import time

from nicegui import ui
from nicegui.testing import User

from tests.support.env import ADMIN_PASSWORD
from tests.support.waiting import eventually


async def test_anonymous_visitor_signs_in_on_the_login_page_and_lands_where_they_wanted(create_user, runtime):
    visitor: User = create_user()
    await visitor.open("/alerts")
    await visitor.should_see("Sign in")  # sent to /login?redirect_to=/alerts
    visitor.find(marker="name").type("admin")
    visitor.find(marker="password").type("not-the-password")
    visitor.find(marker="sign-in").click()
    await visitor.should_see("wrong user name or password", retries=100)  # Argon2 takes its time
    visitor.find(marker="password").type(ADMIN_PASSWORD)
    visitor.find(marker="sign-in").click()
    await visitor.should_see(marker="page-title", retries=100)
    await visitor.should_see("Alerts")
    await visitor.should_see(marker="account")


async def test_an_idle_session_expires_and_asks_to_sign_in_again(user, runtime):
    await user.open("/")
    await user.should_see(marker="account")
    later = time.time() + runtime.settings.session_idle_s + 60
    runtime.accounts.clock = lambda: later
    await user.open("/")
    await user.should_see("Sign in")
    await user.should_not_see(marker="account")


async def test_signing_out_ends_the_session_and_a_get_never_does(user):
    await user.open("/logout")  # a GET only asks
    await user.should_see("Sign out of IAQverse?")
    assert (await user.http_client.get("/api/auth/me")).status_code == 200
    user.find(marker="sign-out-confirm").click()
    await user.should_see("Sign in")
    assert (await user.http_client.get("/api/auth/me")).status_code == 401


async def test_the_account_menu_signs_out(user):
    await user.open("/")
    user.find(marker="sign-out").click()
    await user.should_see("Sign in")
    assert (await user.http_client.get("/api/auth/me")).status_code == 401


async def test_a_viewer_cannot_open_settings(create_user, runtime):
    runtime.accounts.create_user_sync("vera", "viewer", "vera-password")
    viewer: User = create_user()
    answer = await viewer.http_client.post(
        "/api/auth/login", json={"name": "vera", "password": "vera-password"}
    )
    assert answer.status_code == 200
    assert (await viewer.http_client.get("/settings")).status_code == 403
    await viewer.open("/")
    await viewer.should_see(marker="account")


async def test_admin_adds_a_user_and_makes_a_device_key_shown_once(user, runtime):
    await user.open("/settings")
    await user.should_see("Users and roles")
    await user.should_see(marker="user-admin")
    user.find(marker="new-user-name").type("olga")
    user.find(marker="new-user-password").type("olga-password")
    user.find(marker="add-user").click()
    await user.should_see(marker="user-olga", retries=100)  # Argon2 hashes the password first
    assert {u.name for u in await runtime.accounts.list_users()} == {"admin", "olga"}

    user.find(marker="add-key").click()
    await user.should_see("choose the site the device writes for")  # no key for a site that is not there
    await runtime.config.create_site({"name": "Lab"})
    user.find(marker="new-key-site").trigger("focus")
    await eventually(lambda: "Lab" in user.find(marker="new-key-site").elements.pop().options)
    user.find(marker="new-key-site").elements.pop().set_value("Lab")
    user.find(marker="add-key").click()
    await user.should_see("Device key for Lab")
    secret = user.find(marker="secret").elements.pop()
    assert isinstance(secret, ui.input) and secret.value.startswith("iaqk_")
    grant = await runtime.device_keys.authorize(secret.value, "Lab")
    assert grant.site == "Lab"
    listed = await runtime.device_keys.list()
    assert [k.prefix for k in listed] == [secret.value[:12]]
    events = {e.action for e in await runtime.accounts.audit_log()}
    assert {"user.create", "key.create"} <= events


async def test_changes_made_on_a_page_are_in_the_audit_log(user, runtime):
    await user.open("/settings")
    user.find(marker="new-site-name").type("Audited site")
    user.find(marker="create-site").click()
    await user.should_see("Site 'Audited site' created", retries=100)  # notified after the audit is written
    events = await runtime.accounts.audit_log()
    assert any(e.action == "site created" and e.target == "Audited site" for e in events), events


async def test_admin_changes_a_password_on_the_settings_page(user, runtime, create_user):
    await user.open("/settings")
    user.find(marker="password-admin").click()
    await user.should_see(marker="set-password")
    user.find(marker="set-password").type("a-new-admin-password")
    user.find(marker="save-password").click()
    await user.should_see("Password of admin changed", retries=100)
    other: User = create_user()
    answer = await other.http_client.post(
        "/api/auth/login", json={"name": "admin", "password": "a-new-admin-password"}
    )
    assert answer.status_code == 200


async def test_a_new_personal_access_token_is_shown_once_and_works(user, runtime):
    await user.open("/settings")
    user.find(marker="new-token-name").type("reporting script")
    user.find(marker="add-token").click()
    await user.should_see("Personal access token", retries=50)
    secret = user.find(marker="secret").elements.pop().value
    principal = await runtime.accounts.principal_for_token(secret)
    assert principal is not None and principal.name == "admin"
