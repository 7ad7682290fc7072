"""The access part of `/settings` (admins only, by the central rules): users and their roles, device keys,
one's own personal access tokens, the single sign-on status and the latest audit events.
A new key or token is shown once, in a dialog; afterwards only its first characters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nicegui import ui

from app.core.domain.readings import InvalidInput
from app.core.i18n import _, date, use_language
from app.core.principal import ROLES
from components.access import page_language
from components.dialogs import confirm
from components.labels import audit_action
from components.labels import role as role_name
from components.times import local_time
from services.accounts import TokenInfo, UserInfo
from services.device_keys import KeyInfo
from services.errors import Conflict, NotFound

if TYPE_CHECKING:
    from app.core.principal import Principal
    from app.runtime import Runtime


def _problem(exc: Exception) -> str:
    if isinstance(exc, InvalidInput):
        return "; ".join(f"{e.field}: {e.problem}" for e in exc.errors)
    return str(exc)


def show_secret_once(title: str, secret: str) -> None:
    """The new secret in a dialog of the page itself: the list whose button made it is refreshed right
    after, and a dialog inside it would go with it before anyone could copy the secret."""
    with ui.context.client.content, ui.dialog() as dialog, ui.card().classes("gap-2 w-full max-w-xl"):
        ui.label(title).classes("text-h6")
        ui.label(_("Copy it now: it is not shown again, only a hash is kept.")).classes("text-grey-8")
        ui.input(value=secret).props("readonly outlined dense").classes("w-full").mark("secret")
        with ui.row().classes("w-full justify-end gap-2"):
            ui.button(_("Copy"), icon="content_copy", on_click=lambda: ui.clipboard.write(secret)).props(
                "flat no-caps"
            ).mark("copy-secret")
            ui.button(_("Done"), on_click=dialog.close).mark("secret-done")
    dialog.open()


class AccessSection:
    def __init__(self, runtime: Runtime, principal: Principal | None) -> None:
        self.runtime, self.principal = runtime, principal
        self.accounts, self.keys = runtime.accounts, runtime.device_keys

    async def start(self) -> None:
        ui.label(_("Users and roles")).classes("text-h6 q-mt-md")
        await self.users_view()
        self.new_user_form()
        ui.label(_("Device keys")).classes("text-h6 q-mt-md")
        await self.keys_view()
        await self.new_key_form()
        ui.label(_("My personal access tokens")).classes("text-h6 q-mt-md")
        await self.tokens_view()
        ui.label(_("Single sign-on")).classes("text-h6 q-mt-md")
        self.sso_status()
        ui.label(_("Audit log (latest)")).classes("text-h6 q-mt-md")
        await self.audit_view()

    async def _do(self, work, done: str) -> Any:
        try:
            with use_language(page_language()):  # the services' messages in the page's language
                result = await work
        except (InvalidInput, Conflict, NotFound, ValueError) as exc:
            ui.notify(_problem(exc), type="negative", multi_line=True)
            return None
        ui.notify(done, type="positive")
        return result

    @property
    def actor(self) -> str:
        return self.principal.name if self.principal else "?"

    # -- users
    @ui.refreshable_method
    async def users_view(self) -> None:
        users = await self.accounts.list_users()
        with ui.card().classes("w-full gap-1").mark("users"):
            for user in users:
                with ui.row().classes("items-center gap-3 w-full").mark(f"user-{user.name}"):
                    ui.label(user.name).classes("w-48 text-weight-medium")
                    ui.select(
                        {r: role_name(r) for r in ROLES},
                        value=user.role,
                        on_change=lambda e, u=user: self.change(u, {"role": e.value}),
                    ).props("dense").classes("w-32").mark(f"role-{user.name}")
                    ui.label(", ".join(user.sites) if user.sites else _("all sites")).classes("w-40")
                    ui.label(_("SSO") if user.sso else _("local")).classes("text-grey-7 w-12")
                    ui.switch(
                        _("disabled"),
                        value=user.disabled,
                        on_change=lambda e, u=user: self.change(u, {"disabled": e.value}),
                    ).props("dense")
                    ui.button(icon="password", on_click=lambda u=user: self.set_password(u)).props(
                        "flat dense"
                    ).tooltip(_("Set the password")).mark(f"password-{user.name}")
                    ui.button(icon="delete", on_click=lambda u=user: self.delete_user(u)).props(
                        "flat dense color=negative"
                    ).tooltip(_("Delete the account")).mark(f"delete-user-{user.name}")

    async def change(self, user: UserInfo, changes: dict[str, Any]) -> None:
        if all(getattr(user, k) == v for k, v in changes.items()):
            return
        done = await self._do(
            self.accounts.update_user(user.id, changes, self.actor),
            _("{name} updated").format(name=user.name),
        )
        if done is None:
            self.users_view.refresh()

    async def set_password(self, user: UserInfo) -> None:
        with ui.dialog() as dialog, ui.card().classes("gap-2"):
            ui.label(_("New password for {value}").format(value=user.name)).classes("text-h6")
            field = ui.input(_("Password"), password=True, password_toggle_button=True).mark("set-password")

            async def save() -> None:
                changed = self.accounts.update_user(user.id, {"password": field.value or ""}, self.actor)
                if await self._do(changed, _("Password of {value} changed").format(value=user.name)):
                    dialog.close()

            ui.button(_("Save"), on_click=save).mark("save-password")
        dialog.open()

    async def delete_user(self, user: UserInfo) -> None:
        question = _("Delete the account {name}?").format(name=user.name)
        if not await confirm(question, _("Its personal access tokens stop working. This cannot be undone.")):
            return
        done = _("{name} deleted").format(name=user.name)
        if await self._do(self.accounts.delete_user(user.id, self.actor), done):
            self.users_view.refresh()

    def new_user_form(self) -> None:
        with ui.row().classes("items-end gap-2"):
            name = ui.input(_("New user")).props("dense").mark("new-user-name")
            role = (
                ui.select({r: role_name(r) for r in ROLES}, value="viewer", label=_("Role"))
                .props("dense")
                .classes("w-32")
            )
            password = ui.input(_("Password"), password=True).props("dense").mark("new-user-password")
            sites = ui.input(_("Sites (comma-separated, empty: all)")).props("dense").classes("w-64")

            async def create() -> None:
                body = {
                    "name": name.value,
                    "role": role.value,
                    "password": password.value,
                    "sites": [s.strip() for s in sites.value.split(",") if s.strip()] or None,
                }
                created = _("{name} created").format(name=name.value)
                if await self._do(self.accounts.create_user(body, self.actor), created):
                    name.value = password.value = sites.value = ""
                    self.users_view.refresh()

            ui.button(_("Add user"), icon="person_add", on_click=create).mark("add-user")

    # -- device keys
    @ui.refreshable_method
    async def keys_view(self) -> None:
        keys = [k for k in await self.keys.list() if not k.revoked]
        with ui.card().classes("w-full gap-1").mark("keys"):
            if not keys:
                ui.label(_("No device key yet: devices cannot write readings.")).classes("text-grey-7")
            for key in keys:
                with ui.row().classes("items-center gap-3"):
                    ui.label(key.site).classes("w-48 text-weight-medium")
                    ui.label(key.name).classes("w-40")
                    ui.label(f"{key.prefix}…").classes("font-mono text-grey-8")
                    ui.button(_("Revoke"), on_click=lambda k=key: self.revoke_key(k)).props(
                        "flat dense no-caps color=negative"
                    ).mark(f"revoke-{key.id}")

    async def new_key_form(self) -> None:
        with ui.row().classes("items-end gap-2"):
            site = ui.select([], label=_("Site"), with_input=True).props("dense").classes("min-w-[12rem]")
            site.mark("new-key-site")
            name = ui.input(_("Device or gateway"), value="device").props("dense")

            async def sites() -> None:  # the sites as they are now (one may have been created meanwhile)
                names = sorted(s["name"] for s in await self.runtime.config.list_sites())
                site.set_options(names, value=site.value if site.value in names else None)

            async def create() -> None:
                if not site.value:
                    site.error = _("choose the site the device writes for")
                    return
                site.error = None
                made = await self._do(
                    self.keys.create({"site": site.value, "name": name.value}, self.actor), _("Key made")
                )
                if made:
                    show_secret_once(_("Device key for {value}").format(value=made.info.site), made.secret)
                    self.keys_view.refresh()

            site.on("focus", sites)
            ui.button(_("Make a key"), icon="key", on_click=create).mark("add-key")
        await sites()

    async def revoke_key(self, key: KeyInfo) -> None:
        if await self._do(
            self.keys.revoke(key.id, self.actor), _("Key {value}… revoked").format(value=key.prefix)
        ):
            self.keys_view.refresh()

    # -- own tokens
    @ui.refreshable_method
    async def tokens_view(self) -> None:
        if self.principal is None:
            return
        tokens = [t for t in await self.accounts.list_tokens(self.principal) if not t.revoked]
        with ui.card().classes("w-full gap-1").mark("tokens"):
            for token in tokens:
                with ui.row().classes("items-center gap-3"):
                    ui.label(token.name).classes("w-48")
                    ui.label(f"{token.prefix}…").classes("font-mono text-grey-8")
                    ui.label(
                        _("expires {day}").format(day=date(token.expires_at))
                        if token.expires_at
                        else _("no expiry")
                    )
                    ui.button(
                        _("Revoke"),
                        on_click=lambda t=token: self._revoke_token(t),
                    ).props("flat dense no-caps color=negative")
            with ui.row().classes("items-end gap-2"):
                name = ui.input(_("What the token is for")).props("dense").mark("new-token-name")

                async def create() -> None:
                    made = await self._do(
                        self.accounts.create_token(self.principal, {"name": name.value or "token"}),
                        _("Token made"),
                    )
                    if made:
                        show_secret_once(_("Personal access token"), made.secret)
                        self.tokens_view.refresh()

                ui.button(_("Make a token"), icon="vpn_key", on_click=create).mark("add-token")

    async def _revoke_token(self, token: TokenInfo) -> None:
        if await self._do(self.accounts.revoke_token(token.id, self.principal), _("Token revoked")):
            self.tokens_view.refresh()

    # -- single sign-on and audit
    def sso_status(self) -> None:
        settings = self.runtime.settings
        with ui.card().classes("w-full gap-1").mark("sso-status"):
            if not settings.oidc_enabled:
                ui.label(
                    _("Off. Set {variables} to switch it on.").format(
                        variables="IAQ_OIDC_ISSUER, IAQ_OIDC_CLIENT_ID, IAQ_OIDC_CLIENT_SECRET"
                    )
                )
                return
            ui.label(
                _("On: provider {oidc_issuer}, client {oidc_client_id}").format(
                    oidc_issuer=settings.oidc_issuer, oidc_client_id=settings.oidc_client_id
                )
            )
            mapping = ", ".join(f"{k} → {v}" for k, v in settings.oidc_role_map.items()) or "none"
            ui.label(
                _("Roles from the claim '{oidc_role_claim}': {mapping}").format(
                    oidc_role_claim=settings.oidc_role_claim, mapping=mapping
                )
            )
            ui.label(
                _("Without a mapped role: {value}").format(value=settings.oidc_default_role or "refused")
            )
            ui.label(
                _("Local passwords: {value}").format(
                    value="on" if self.runtime.local_login_enabled else "off"
                )
            )

    async def audit_view(self) -> None:
        events = await self.accounts.audit_log(20)
        rows = [
            {
                "at": local_time(e.at, self.runtime.settings.default_timezone, seconds=True),
                "actor": e.actor,
                "action": audit_action(e.action),
                "target": e.target,
            }
            for e in events
        ]
        heads = {"at": _("At"), "actor": _("Who"), "action": _("What"), "target": _("On what")}
        columns = [{"name": k, "label": heads[k], "field": k, "align": "left"} for k in heads] if rows else []
        ui.table(columns=columns, rows=rows).props("dense flat").classes("w-full").mark("audit")
