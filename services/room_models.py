"""Custom 3D models of rooms: one binary glTF (`.glb`) file per room, kept in `IAQ_DATA_DIR/models/`.

The file name comes from the room's id (`room-12.glb`), never from the uploader, so no name can reach
outside the folder. A file is accepted only if it is a binary glTF 2.0 container whose header states its
real length, and only up to `IAQ_MAX_GLB_BYTES`.
"""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

from app.core.domain.readings import FieldError
from app.core.i18n import _
from app.core.settings import Settings

GLB_MAGIC = b"glTF"
GLB_HEADER = struct.Struct("<4sII")  # magic, version, total length (little-endian, glTF 2.0 spec §4.4)


def check_glb(data: bytes, max_bytes: int) -> None:
    """Raise InvalidInput (field `model`) unless `data` is a binary glTF 2.0 file of at most `max_bytes`."""
    if len(data) > max_bytes:
        raise FieldError(
            "model",
            _("is {len} bytes, more than the limit of {max_bytes} bytes").format(
                len=len(data), max_bytes=max_bytes
            ),
        ).as_error()
    if len(data) < GLB_HEADER.size + 8 or data[:4] != GLB_MAGIC:
        raise FieldError(
            "model", _("is not a binary glTF (.glb) file: it does not start with 'glTF'")
        ).as_error()
    _magic, version, length = GLB_HEADER.unpack_from(data)
    if version != 2:
        raise FieldError(
            "model", _("is glTF version {version}; only glTF 2.0 is supported").format(version=version)
        ).as_error()
    if length != len(data):
        raise FieldError(
            "model",
            _("is truncated or padded: its header says {length} bytes, got {len}").format(
                length=length, len=len(data)
            ),
        ).as_error()


class RoomModels:
    """The `.glb` files of the rooms, with the URL the twin loads them from."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> RoomModels:
        return cls(settings.data_dir / "models", settings.max_glb_bytes)

    def path(self, room_id: int) -> Path:
        return self.folder / f"room-{int(room_id)}.glb"

    def url(self, room_id: int) -> str | None:
        """Where the browser loads the model; the version parameter changes with every upload."""
        try:
            version = self.path(room_id).stat().st_mtime_ns
        except FileNotFoundError:
            return None
        return f"/api/config/rooms/{int(room_id)}/model?v={version}"

    async def save(self, room_id: int, data: bytes) -> dict[str, object]:
        check_glb(data, self.max_bytes)
        await asyncio.to_thread(self._write, self.path(room_id), data)
        return {"room_id": room_id, "bytes": len(data), "url": self.url(room_id)}

    def _write(self, path: Path, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        os.replace(partial, path)  # a reader never sees half a file

    async def delete(self, room_id: int) -> bool:
        def work() -> bool:
            try:
                self.path(room_id).unlink()
            except FileNotFoundError:
                return False
            return True

        return await asyncio.to_thread(work)
