"""`/settings`: sites and their rooms, sensor assignments, and the configuration as a JSON file.

Every change goes through the configuration service; its `config_changed` event refreshes the page
(this tab's changes as well as other tabs' and the REST API's). Service errors become notifications
that name the field; form fields also show their own error.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeVar

from nicegui import events, ui

from app.core.bus import Measurement
from app.core.domain.readings import FieldError
from app.core.i18n import N_, _
from components.access import page_bus, page_principal
from components.actions import attempt, plural, small_button
from components.dialogs import ask_text, ask_timezone, confirm, timezone_select
from components.frame import frame
from components.opening_hours import OpeningHoursEditor, summary
from components.refresh import Coalesced

from .access import AccessSection

if TYPE_CHECKING:
    from app.runtime import Runtime

T = TypeVar("T")
MAX_CONFIG_BYTES = 5 * 1024 * 1024


def register(runtime: Runtime) -> None:
    @ui.page("/settings")
    async def settings_page() -> None:
        with frame(_("Settings")):
            await SettingsPage(runtime).start()


class SettingsPage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime, self.config = runtime, runtime.config
        self.known_rooms: set[int] = set()
        self.known_sensors: set[str] = set()
        self.reload = Coalesced(self._reload)

    async def start(self) -> None:
        self.new_site_form()
        ui.label(_("Sites and rooms")).classes("text-h6 q-mt-md")
        sites, sensors = await self._fetch()
        self.sites_view(sites)
        ui.label(_("Sensors")).classes("text-h6 q-mt-md")
        self.sensors_view(sensors, sites)
        self.file_card()
        await AccessSection(self.runtime, page_principal()).start()
        bus = page_bus(self.runtime.bus)
        bus.config_changed.subscribe(self.reload)
        bus.measurements.subscribe(self.on_measurements)

    async def _fetch(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        sites = await self.config.list_sites(with_counts=True)
        sensors = await self.config.list_sensors()
        self.known_rooms = {room["id"] for site in sites for room in site["rooms"]}
        self.known_sensors = {s["sensor_id"] for s in sensors}
        return sites, sensors

    async def _reload(self) -> None:
        sites, sensors = await self._fetch()
        self.sites_view.refresh(sites)
        self.sensors_view.refresh(sensors, sites)

    async def on_measurements(self, batch: list[Measurement]) -> None:
        # readings register new sensors and rooms without a config_changed event
        if any(m.room_id not in self.known_rooms or m.sensor_id not in self.known_sensors for m in batch):
            await self.reload()

    # -- new site
    def new_site_form(self) -> None:
        with ui.card().classes("w-full gap-2").mark("new-site"):
            ui.label(_("New site")).classes("text-subtitle1 text-weight-medium")
            with ui.row().classes("w-full items-start gap-4"):
                name = ui.input(_("Name")).mark("new-site-name")
                zone = timezone_select(self.runtime.settings.default_timezone)
                address = ui.input(_("Address (optional)")).classes("grow").mark("new-site-address")
                fields = {"name": name, "timezone": zone, "address": address}

                def show_errors(errors: list[FieldError]) -> None:
                    for e in errors:
                        if e.field in fields:
                            fields[e.field].error = e.problem

                async def create() -> None:
                    for field in fields.values():
                        field.error = None
                    site = await attempt(
                        _("The site was not created"),
                        self.config.create_site(
                            {"name": name.value, "timezone": zone.value, "address": address.value}
                        ),
                        on_invalid=show_errors,
                        done=lambda made: _("Site '{value}' created").format(value=made["name"]),
                        audit=N_("site created"),
                        target=name.value,
                    )
                    if site:
                        name.value = address.value = ""

                name.on("keydown.enter", create)
                ui.button(_("Create site"), icon="add", on_click=create).classes("self-center").mark(
                    "create-site"
                )

    # -- sites and rooms
    @ui.refreshable_method
    def sites_view(self, sites: list[dict[str, Any]]) -> None:
        if not sites:
            ui.label(
                _(
                    "No sites yet. Create one above, import a configuration below, "
                    "or send a reading: its site and room are created with it."
                )
            ).classes("text-grey-7")
        for site in sites:
            self.site_card(site)

    def site_card(self, site: dict[str, Any]) -> None:
        rooms = site["rooms"]
        readings = sum(room["readings"] for room in rooms)
        with ui.card().classes("w-full gap-1").mark(f"site-{site['id']}"):
            with ui.row().classes("w-full items-center gap-2"):
                ui.label(site["name"]).classes("text-h6").mark("site-name")
                ui.badge(site["timezone"], color="grey-3", text_color="grey-9").mark("site-timezone")
                ui.space()
                small_button(_("Rename"), "edit", lambda: self.rename_site(site), "rename-site")
                small_button(
                    _("Time zone"), "schedule", lambda: self.change_timezone(site), "change-timezone"
                )
                small_button(_("Opening hours"), "storefront", lambda: self.edit_hours(site), "edit-hours")
                small_button(_("Delete"), "delete", lambda: self.delete_site(site), "delete-site", "negative")
            details = [
                site["address"] or _("no address"),
                _("opening hours: {summary}").format(summary=summary(site["opening_hours"])),
                plural(len(rooms), "room"),
                plural(readings, "reading"),
            ]
            ui.label(" · ".join(details)).classes("text-caption text-grey-7").mark("site-details")
            for room in rooms:
                self.room_row(site, room)
            with ui.row().classes("items-center gap-2 pl-4"):
                new_room = ui.input(_("New room")).props("dense").mark("new-room-name")

                async def add_room() -> None:
                    await attempt(
                        _("The room was not added"),
                        self.config.create_room(site["id"], {"name": new_room.value}),
                        done=lambda room: _("Room '{value}' added to '{value2}'").format(
                            value=room["name"], value2=site["name"]
                        ),
                        audit=N_("room created"),
                        target=f"{site['name']} / {new_room.value}",
                    )

                new_room.on("keydown.enter", add_room)
                small_button(_("Add room"), "add", add_room, "add-room")

    def room_row(self, site: dict[str, Any], room: dict[str, Any]) -> None:
        with ui.row().classes("w-full items-center gap-3 pl-4").mark(f"room-{room['id']}"):
            ui.icon("meeting_room", color="grey-7")
            ui.link(room["name"], f"/rooms/{room['id']}").classes("text-body1")
            details = [room["kind"]] if room["kind"] else []
            if room["timezone"]:
                details.append(_("time zone {value}").format(value=room["timezone"]))
            details.append(
                _("sensors: {ids}").format(ids=", ".join(room["sensors"]))
                if room["sensors"]
                else _("no sensors")
            )
            details.append(plural(room["readings"], "reading"))
            ui.label(" · ".join(details)).classes("text-caption text-grey-7")
            ui.space()
            small_button(_("Rename"), "edit", lambda: self.rename_room(room), "rename-room")
            # the room's geometry and 3D model are edited in the twin's panel
            twin = f"/twin/{site['id']}?room={room['id']}"
            small_button("3D", "view_in_ar", lambda: ui.navigate.to(twin), "twin-room")
            small_button(
                _("Delete"), "delete", lambda: self.delete_room(site, room), "delete-room", "negative"
            )

    async def rename_site(self, site: dict[str, Any]) -> None:
        name = await ask_text(_("Rename site '{value}'").format(value=site["name"]), _("Name"), site["name"])
        if name is not None and name != site["name"]:
            await attempt(
                _("The site was not renamed"),
                self.config.update_site(site["id"], {"name": name}),
                done=_("Site renamed to '{strip}'").format(strip=name.strip()),
                audit=N_("site renamed"),
                target=f"{site['name']} → {name.strip()}",
            )

    async def change_timezone(self, site: dict[str, Any]) -> None:
        zone = await ask_timezone(_("Time zone of '{value}'").format(value=site["name"]), site["timezone"])
        if zone is not None and zone != site["timezone"]:
            await attempt(
                _("The time zone was not changed"),
                self.config.update_site(site["id"], {"timezone": zone}),
                done=_("'{value}' now uses {zone}").format(value=site["name"], zone=zone),
                audit=N_("site time zone changed"),
                target=f"{site['name']}: {zone}",
            )

    async def edit_hours(self, site: dict[str, Any]) -> None:
        with ui.dialog() as dialog, ui.card().classes("gap-2 min-w-[24rem]").mark("hours-dialog"):
            ui.label(_("Opening hours of '{value}'").format(value=site["name"])).classes("text-h6")
            ui.label(_("Local time, {value}").format(value=site["timezone"])).classes(
                "text-caption text-grey-7"
            )
            editor = OpeningHoursEditor(site["opening_hours"])

            async def save() -> None:  # the dialog stays open while the service rejects the hours
                editor.show_errors([])
                if await attempt(
                    _("The opening hours were not saved"),
                    self.config.update_site(site["id"], {"opening_hours": editor.value}),
                    on_invalid=editor.show_errors,
                    done=_("Opening hours of '{value}' saved").format(value=site["name"]),
                    audit=N_("opening hours changed"),
                    target=site["name"],
                ):
                    dialog.submit(True)

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(_("Cancel"), on_click=lambda: dialog.submit(None)).props("flat")
                ui.button(_("Save"), on_click=save).mark("save")
        await dialog
        if not dialog.is_deleted:
            dialog.delete()

    async def delete_site(self, site: dict[str, Any]) -> None:
        rooms = site["rooms"]
        if rooms:
            readings = sum(room["readings"] for room in rooms)
            names = ", ".join(room["name"] for room in rooms[:5]) + (", …" if len(rooms) > 5 else "")
            message = _(
                "This deletes site '{value}', its {plural} ({names}) and {plural2}. Its sensors stay "
                "registered, "
                "without a room. This cannot be undone."
            ).format(
                value=site["name"],
                plural=plural(len(rooms), "room"),
                names=names,
                plural2=plural(readings, "reading"),
            )
        else:
            message = _("This deletes site '{value}'. It has no rooms.").format(value=site["name"])
        if not await confirm(_("Delete site '{value}'?").format(value=site["name"]), message):
            return
        await attempt(
            _("The site was not deleted"),
            self.config.delete_site(site["id"], cascade=True),
            done=lambda result: _("Deleted site '{value}' with {plural} and {plural2}").format(
                value=result["name"],
                plural=plural(result["rooms"], "room"),
                plural2=plural(result["readings"], "reading"),
            ),
            audit=N_("site deleted"),
            target=site["name"],
        )

    async def rename_room(self, room: dict[str, Any]) -> None:
        name = await ask_text(_("Rename room '{value}'").format(value=room["name"]), _("Name"), room["name"])
        if name is not None and name != room["name"]:
            await attempt(
                _("The room was not renamed"),
                self.config.update_room(room["id"], {"name": name}),
                done=_("Room renamed to '{strip}'").format(strip=name.strip()),
                audit=N_("room renamed"),
                target=f"{room['name']} → {name.strip()}",
            )

    async def delete_room(self, site: dict[str, Any], room: dict[str, Any]) -> None:
        message = _(
            "This deletes room '{value}' of '{value2}' and its {plural}. Its sensors stay registered, "
            "without a "
            "room. This cannot be undone."
        ).format(value=room["name"], value2=site["name"], plural=plural(room["readings"], "reading"))
        if not await confirm(_("Delete room '{value}'?").format(value=room["name"]), message):
            return
        await attempt(
            _("The room was not deleted"),
            self.config.delete_room(room["id"], cascade=True),
            done=lambda result: _("Deleted room '{value}' and {plural}").format(
                value=result["name"], plural=plural(result["readings"], "reading")
            ),
            audit=N_("room deleted"),
            target=f"{site['name']} / {room['name']}",
        )

    # -- sensors
    @ui.refreshable_method
    def sensors_view(self, sensors: list[dict[str, Any]], sites: list[dict[str, Any]]) -> None:
        if not sensors:
            ui.label(
                _("No sensors yet: a sensor is registered with its first reading, or by an import.")
            ).classes("text-grey-7")
            return
        options: dict[int | None, str] = {None: _("— no room —")}
        for site in sites:
            options.update({room["id"]: f"{site['name']} / {room['name']}" for room in site["rooms"]})
        columns = "minmax(0, auto) minmax(0, auto) minmax(0, 1fr)"  # each column may shrink on a phone
        with ui.card().classes("w-full"), ui.grid(columns=columns).classes("w-full items-center"):
            for title in (_("Sensor"), _("Label"), _("Room")):
                ui.label(title).classes("text-caption text-grey-7")
            for sensor in sensors:
                sensor_id, room_id = sensor["sensor_id"], sensor["room_id"]
                if room_id not in options:  # a room created between the two look-ups
                    options[room_id] = f"{sensor['enseigne']} / {sensor['salle']}"
                ui.label(sensor_id).classes("text-body1")
                ui.label(sensor["label"] or "")
                ui.select(
                    options, value=room_id, on_change=lambda e, sid=sensor_id: self.assign(sid, e.value)
                ).props("dense").classes("w-full max-w-sm").mark(f"sensor-{sensor_id}")

    async def assign(self, sensor_id: str, room_id: int | None) -> None:
        def where(sensor: dict[str, Any]) -> str:
            return f"{sensor['enseigne']} / {sensor['salle']}" if sensor["room_id"] else _("no room")

        await attempt(
            _("The sensor was not assigned"),
            self.config.upsert_sensor(sensor_id, {"room_id": room_id}),
            done=lambda sensor: _("Sensor '{sensor_id}' → {where}").format(
                sensor_id=sensor_id, where=where(sensor)
            ),
            audit=N_("sensor assigned"),
            target=f"{sensor_id} → room {room_id}",
        )

    # -- configuration file
    def file_card(self) -> None:
        ui.label(_("Configuration file")).classes("text-h6 q-mt-md")
        with ui.card().classes("w-full gap-2"):
            ui.label(
                _(
                    "Export writes sites, rooms and sensor assignments as JSON. Import merges a file "
                    "(an export, or the original IAQverse assets/config.json): sites and rooms are matched "
                    "by name, nothing is deleted, and one invalid field rejects the whole file."
                )
            ).classes("text-grey-8")
            with ui.row().classes("items-start gap-4"):
                ui.button(_("Export JSON"), icon="download", on_click=self.export).mark("export")
                self.upload = (
                    ui.upload(
                        label=_("Import JSON"),
                        auto_upload=True,
                        max_file_size=MAX_CONFIG_BYTES,
                        on_upload=self.import_file,
                        on_rejected=lambda: ui.notify(_("The file is larger than 5 MB"), type="negative"),
                    )
                    .props("accept=.json,application/json flat bordered")
                    .classes("max-w-full")
                    .mark("import")
                )

    async def export(self) -> None:
        doc = await self.config.export_config()
        data = json.dumps(doc, indent=2, ensure_ascii=False).encode()
        ui.download.content(data, "iaqverse-config.json", "application/json")

    async def import_file(self, e: events.UploadEventArguments) -> None:
        self.upload.reset()
        try:
            doc = json.loads(await e.file.text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            ui.notify(
                _("{name} is not a JSON file: {exc}").format(name=e.file.name, exc=exc),
                type="negative",
                multi_line=True,
            )
            return
        report = await attempt(
            _("{name} was not imported").format(name=e.file.name),
            self.config.import_config(doc),
            audit=N_("configuration imported"),
            target=e.file.name,
        )
        if report:
            text = _(
                "Imported {name}: {plural} created, {value} updated; {plural2} created, {value2} updated; "
                "{plural3} assigned"
            ).format(
                name=e.file.name,
                plural=plural(report["sites_created"], "site"),
                value=report["sites_updated"],
                plural2=plural(report["rooms_created"], "room"),
                value2=report["rooms_updated"],
                plural3=plural(report["sensors_assigned"], "sensor"),
            )
            if report["modules_ignored"]:
                text += _("; {plural} ignored (not managed yet)").format(
                    plural=plural(report["modules_ignored"], "module")
                )
            ui.notify(text, type="positive", multi_line=True, close_button=True)
