"""Request schemas and response shapes for attachments, reports and recordings."""
from __future__ import annotations

from typing import Any

from aiohttp.http_exceptions import BadHttpMessage
from marshmallow import fields, pre_load, validate

from domain.errors import ValidationFailed
from domain.files import SCOPE_TYPES, UPLOAD_MODES, FileStatus, RecordingStatus, attachment_wire
from schemas.common import BaseSchema, PageQuery, Str
from schemas.out import OPTIONAL, OutSchema, one_of
from storage.blobs import READ_URL_TTL


class _Upper(BaseSchema):
    """Accept `sas` / `session` as well as the canonical upper-case enums."""

    UPPER = ("upload_mode", "scope_type")

    @pre_load
    def upper(self, data: Any, **kwargs: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for key in self.UPPER:
                if isinstance(data.get(key), str):
                    data[key] = data[key].strip().upper()
        return data


class AttachmentInit(_Upper):
    filename = Str(required=True, min_len=1, max_len=1000)
    content_type = Str(required=True, min_len=1, max_len=200)
    size_bytes = fields.Integer(required=True, strict=True)
    upload_mode = fields.String(load_default="SAS", validate=validate.OneOf(UPLOAD_MODES))


class GeneralAttachmentInit(AttachmentInit):
    scope_type = fields.String(required=True, validate=validate.OneOf(SCOPE_TYPES))
    scope_id = fields.UUID(load_default=None)


class ScopeFields(_Upper):
    """The scope fields of the one-shot multipart upload."""
    scope_type = fields.String(required=True, validate=validate.OneOf(SCOPE_TYPES))
    scope_id = fields.UUID(load_default=None)


class DownloadListQuery(PageQuery):
    include_download_url = fields.Boolean(load_default=False)


class AttachmentListQuery(_Upper, DownloadListQuery):
    scope_type = fields.String(required=True, validate=validate.OneOf(SCOPE_TYPES))
    scope_id = fields.UUID(load_default=None)


class ReportInitQuery(BaseSchema):
    original_filename = Str(required=True, min_len=1, max_len=1000)
    mime_type = Str(required=True, min_len=1, max_len=200)
    size_bytes = fields.Integer(required=True)


def _url_fields(url: str | None) -> dict[str, Any]:
    return {"download_url": url, "expires_in": READ_URL_TTL} if url else {}


def attachment_out(row: dict[str, Any], download_url: str | None = None) -> dict[str, Any]:
    return {**attachment_wire(row), **_url_fields(download_url)}


def report_item(row: dict[str, Any], download_url: str | None = None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "original_filename": row["original_filename"],
        "mime_type": row["verified_mime_type"] or row["mime_type"],
        "size_bytes": row["verified_size_bytes"] or row["size_bytes"],
        "status": row["status"],
        "created_at": row["created_at"],
        "uploader_user_id": row["uploader_id"],
        **_url_fields(download_url),
    }


def report_detail(row: dict[str, Any], download_url: str | None) -> dict[str, Any]:
    return {
        "report_id": row["id"],
        "original_filename": row["original_filename"],
        "mime_type": row["verified_mime_type"] or row["mime_type"],
        "size_bytes": row["verified_size_bytes"] or row["size_bytes"],
        "status": row["status"],
        "uploader_user_id": row["uploader_id"],
        "download_url": download_url,
        "expires_in": READ_URL_TTL,
        "created_at": row["created_at"],
    }


def recording_out(row: dict[str, Any], download_url: str | None = None) -> dict[str, Any]:
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "room_name": row["room_name"],
        "egress_id": row["egress_id"],
        "status": row["status"],
        "started_at": row["started_at"],
        "stop_requested_at": row["stop_requested_at"],
        "ended_at": row["ended_at"],
        "duration_seconds": row["duration_seconds"],
        "size_bytes": row["size_bytes"],
        "error": row["error"],
        "created_at": row["created_at"],
        **_url_fields(download_url),
    }


MAX_FIELD_BYTES = 1024


async def multipart_until_file(request: Any, file_field: str = "file") -> tuple[dict[str, str], Any]:
    """Read a multipart body's small text fields up to the file part, and return (fields, file part).

    The file part is left unread so the caller can stream it; fields that come after it are not
    seen, so clients send them first (as curl -F in order, OkHttp and Dart's MultipartRequest do).
    """
    if not request.content_type.startswith("multipart/"):
        raise ValidationFailed([{"loc": ["body", file_field], "msg": "Expected multipart/form-data",
                                 "type": "missing"}])
    try:
        reader = await request.multipart()
    except (BadHttpMessage, ValueError):
        raise _malformed() from None
    values: dict[str, str] = {}
    while True:
        try:
            part = await reader.next()
        except (BadHttpMessage, ValueError):  # a part's headers aiohttp cannot parse, a broken boundary
            raise _malformed() from None
        if part is None:
            raise ValidationFailed.single("body", file_field, "Field required", "missing")
        if part.name == file_field and part.filename is not None:
            return values, part
        if part.name == file_field:
            raise ValidationFailed.single("body", file_field, "Expected a file upload", "value_error")
        raw = bytearray()
        while chunk := await part.read_chunk(MAX_FIELD_BYTES):
            raw.extend(chunk)
            if len(raw) > MAX_FIELD_BYTES:
                raise ValidationFailed.single("body", part.name or "", "Field too long")
        if part.name:
            values[part.name] = raw.decode("utf-8", "replace").strip()


def _malformed() -> ValidationFailed:
    return ValidationFailed([{"loc": ["body"], "msg": "Malformed multipart body", "type": "value_error"}])


# --- answers (schemas.out) ----------------------------------------------------------------

_DOWNLOAD = {**OPTIONAL, "description": "With include_download_url=true (or once COMPLETED): a read URL"}
_EXPIRES = {**OPTIONAL, "description": "Seconds the download_url stays valid"}


class AttachmentOut(OutSchema):
    """`attachment_out`: also the data of the websocket's `message.attachment` frame."""
    id = fields.UUID()
    scope_type = one_of(SCOPE_TYPES)
    scope_id = fields.UUID(allow_none=True)
    session_id = fields.UUID(allow_none=True)
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    upload_mode = one_of(UPLOAD_MODES)
    status = one_of(FileStatus)
    uploader_role = one_of(("client", "doctor"))
    uploader_id = fields.UUID()
    created_at = fields.DateTime()
    uploaded_at = fields.DateTime(allow_none=True)
    download_url = fields.String(metadata=_DOWNLOAD)
    expires_in = fields.Integer(metadata=_EXPIRES)


class AttachmentInitOut(OutSchema):
    """A new PENDING attachment and where its bytes go: SAS, a write URL to PUT them to (with
    `required_headers`); DIRECT, POST /attachments/{id}/upload."""
    id = fields.UUID()
    scope_type = one_of(SCOPE_TYPES)
    scope_id = fields.UUID(allow_none=True)
    session_id = fields.UUID(allow_none=True)
    filename = fields.String()
    content_type = fields.String()
    size_bytes = fields.Integer()
    upload_mode = one_of(UPLOAD_MODES)
    status = one_of(FileStatus)
    uploader_role = one_of(("client", "doctor"))
    uploader_id = fields.UUID()
    created_at = fields.DateTime()
    uploaded_at = fields.DateTime(allow_none=True)
    upload_url = fields.String()
    required_headers = fields.Dict(keys=fields.String(), values=fields.String(),
                                   metadata={**OPTIONAL, "description": "SAS mode: headers the PUT must carry"})
    expires_in = fields.Integer(metadata={"description": "Seconds the upload_url stays valid"})


class ReportInitOut(OutSchema):
    report_id = fields.UUID()
    sas_url = fields.String(metadata={"description": "PUT the bytes here with required_headers"})
    required_headers = fields.Dict(keys=fields.String(), values=fields.String())
    container_name = fields.String()
    blob_name = fields.String()
    expires_in = fields.Integer()


class ReportCompleteOut(OutSchema):
    report_id = fields.UUID()
    status = one_of(FileStatus)
    verified_size_bytes = fields.Integer(allow_none=True)
    verified_mime_type = fields.String(allow_none=True)


class ReportItemOut(OutSchema):
    id = fields.UUID()
    original_filename = fields.String()
    mime_type = fields.String()
    size_bytes = fields.Integer()
    status = one_of(FileStatus)
    created_at = fields.DateTime()
    uploader_user_id = fields.UUID()
    download_url = fields.String(metadata=_DOWNLOAD)
    expires_in = fields.Integer(metadata=_EXPIRES)


class ReportDetailOut(OutSchema):
    report_id = fields.UUID()
    original_filename = fields.String()
    mime_type = fields.String()
    size_bytes = fields.Integer()
    status = one_of(FileStatus)
    uploader_user_id = fields.UUID()
    download_url = fields.String(metadata={"description": "A read URL, valid expires_in seconds"})
    expires_in = fields.Integer()
    created_at = fields.DateTime()


class ReportDeletedOut(OutSchema):
    report_id = fields.UUID()
    status = one_of(FileStatus)
    deleted_at = fields.DateTime(allow_none=True)


class RecordingOut(OutSchema):
    id = fields.UUID()
    session_id = fields.UUID()
    room_name = fields.String()
    egress_id = fields.String(allow_none=True)
    status = one_of(RecordingStatus)
    started_at = fields.DateTime(allow_none=True)
    stop_requested_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    size_bytes = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.DateTime()
    download_url = fields.String(metadata={**OPTIONAL, "description": "Once COMPLETED: a read URL of the MP4"})
    expires_in = fields.Integer(metadata=_EXPIRES)
