"""File rules: size limits, allowed types recognised by their first bytes, filename sanitising, blob
names, the states of attachments, reports and recordings and who may touch them.

Pure functions; the use cases (services.attachments, services.reports, services.recordings) call
these at init (declared values) and again at complete (what was actually stored).
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
import uuid
from enum import StrEnum
from typing import Any, Iterable, Mapping, TypeVar

from domain.errors import BadRequest, Conflict, Forbidden, NotFound, PayloadTooLarge, ValidationFailed
from domain.roles import Role
from domain.sessions import ONGOING

MB = 1024 * 1024
REPORT_MAX_BYTES = 10 * MB
AVATAR_MAX_BYTES = 2 * MB
HEAD_BYTES = 64  # enough for every signature below
FILENAME_MAX_CHARS = 150

SCOPE_TYPES = ("PROFILE", "SESSION", "REPORT", "RECORDING")
UPLOAD_MODES = ("SAS", "DIRECT")

PDF, JPEG, PNG, WEBP = "application/pdf", "image/jpeg", "image/png", "image/webp"
REPORT_TYPES = (PDF, JPEG, PNG)
AVATAR_TYPES = (JPEG, PNG, WEBP)
# Chat and general attachments: documents, photos and voice notes the apps send.
ATTACHMENT_TYPES = (
    PDF, JPEG, PNG, WEBP, "image/gif", "image/heic",
    "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/wav", "audio/webm",
    "video/mp4", "video/webm",
)
# What clients send for the same thing; normalised before any check.
_ALIASES = {
    "image/jpg": JPEG, "image/pjpeg": JPEG, "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4",
    "audio/mp3": "audio/mpeg", "audio/x-wav": "audio/wav", "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav", "application/x-pdf": PDF, "image/heif": "image/heic",
}
EXTENSIONS = {PDF: "pdf", JPEG: "jpg", PNG: "png", WEBP: "webp"}


def _is_ftyp(head: bytes, brands: Iterable[bytes] | None = None) -> bool:
    if head[4:8] != b"ftyp":
        return False
    return brands is None or head[8:12] in brands


def _is_mpeg_audio(head: bytes) -> bool:
    return head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


_SIGNATURES = {
    PDF: lambda h: h.startswith(b"%PDF-"),
    JPEG: lambda h: h.startswith(b"\xff\xd8\xff"),
    PNG: lambda h: h.startswith(b"\x89PNG\r\n\x1a\n"),
    WEBP: lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP",
    "image/gif": lambda h: h[:6] in (b"GIF87a", b"GIF89a"),
    "image/heic": lambda h: _is_ftyp(h, (b"heic", b"heix", b"mif1", b"msf1", b"heis", b"hevc")),
    "audio/mpeg": _is_mpeg_audio,
    "audio/mp4": lambda h: _is_ftyp(h),
    "audio/aac": lambda h: len(h) > 1 and h[0] == 0xFF and h[1] & 0xF6 == 0xF0,
    "audio/ogg": lambda h: h.startswith(b"OggS"),
    "audio/wav": lambda h: h[:4] == b"RIFF" and h[8:12] == b"WAVE",
    "audio/webm": lambda h: h.startswith(b"\x1a\x45\xdf\xa3"),
    "video/mp4": lambda h: _is_ftyp(h),
    "video/webm": lambda h: h.startswith(b"\x1a\x45\xdf\xa3"),
}


def normalize_type(content_type: str | None) -> str:
    """"Image/JPG; charset=x" → "image/jpeg"."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return _ALIASES.get(base, base)


def matches_type(content_type: str, head: bytes) -> bool:
    check = _SIGNATURES.get(normalize_type(content_type))
    return bool(check and check(head))


def sniff_type(head: bytes, allowed: Iterable[str]) -> str | None:
    """The first allowed type whose signature the bytes carry."""
    for content_type in allowed:
        if matches_type(content_type, head):
            return content_type
    return None


def check_declared(content_type: str, size_bytes: int, *, allowed: Iterable[str], max_bytes: int,
                   where: str = "body", type_field: str = "content_type",
                   size_field: str = "size_bytes") -> str:
    """Validate what a client declares before it uploads; returns the normalised type."""
    allowed = tuple(allowed)
    normalized = normalize_type(content_type)
    if normalized not in allowed:
        raise ValidationFailed.single(where, type_field, f"Unsupported file type; allowed: {', '.join(allowed)}")
    if size_bytes <= 0:
        raise ValidationFailed.single(where, size_field, "File size must be greater than 0")
    if size_bytes > max_bytes:
        raise PayloadTooLarge(f"File too large: the limit is {max_bytes} bytes", code="FILE_TOO_LARGE")
    return normalized


def check_stored(*, declared_type: str, declared_size: int, stored_size: int, head: bytes,
                 max_bytes: int) -> None:
    """Validate what actually landed in storage against the declaration."""
    if stored_size > max_bytes:
        raise PayloadTooLarge(f"File too large: the limit is {max_bytes} bytes", code="FILE_TOO_LARGE")
    if stored_size != declared_size:
        raise BadRequest(f"Uploaded size {stored_size} does not match the declared {declared_size} bytes",
                         code="SIZE_MISMATCH")
    if not matches_type(declared_type, head):
        raise BadRequest(f"File content is not {declared_type}", code="CONTENT_TYPE_MISMATCH")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def sanitize_filename(raw: str | None, *, default: str = "file") -> str:
    """Display name: no path parts, no control or format characters, bounded length, extension kept."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"))
    name = _CONTROL.sub("", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        return default
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10 and stem:
            name = stem[: FILENAME_MAX_CHARS - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:FILENAME_MAX_CHARS]
    return name


def blob_safe_name(filename: str, *, max_chars: int = 80) -> str:
    """ASCII slug of a (sanitised) filename for blob paths: [A-Za-z0-9._-] only."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_name).strip("._-")
    slug = re.sub(r"\.{2,}", ".", slug)
    if len(slug) > max_chars:
        stem, dot, ext = slug.rpartition(".")
        slug = (stem[: max_chars - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 and stem else slug[:max_chars]
    return slug or "file"


R = TypeVar("R", bound=Mapping[str, Any])  # a row, returned as given once checked


# --- states -------------------------------------------------------------------------------

class FileStatus(StrEnum):
    """An attachment or a session report."""
    PENDING = "PENDING"      # declared, bytes not verified yet
    UPLOADED = "UPLOADED"
    DELETED = "DELETED"


PENDING, UPLOADED, DELETED = FileStatus.PENDING, FileStatus.UPLOADED, FileStatus.DELETED


class RecordingStatus(StrEnum):
    STARTING = "STARTING"
    ACTIVE = "ACTIVE"
    STOPPING = "STOPPING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


STARTING, ACTIVE, STOPPING = RecordingStatus.STARTING, RecordingStatus.ACTIVE, RecordingStatus.STOPPING
COMPLETED, FAILED = RecordingStatus.COMPLETED, RecordingStatus.FAILED
ACTIVE_RECORDING = (STARTING, ACTIVE)              # at most one per session (partial unique index)
FINAL_RECORDING = (COMPLETED, FAILED)
RUNNING_RECORDING = (STARTING, ACTIVE, STOPPING)   # what LiveKit's reports may still change


def sql_list(statuses: Iterable[StrEnum]) -> str:
    """`'A', 'B'` for SQL text: statuses written into a statement (not bound) let a generic plan use
    the partial indexes defined on them."""
    return ", ".join(f"'{status.value}'" for status in sorted(statuses))


# --- attachments ----------------------------------------------------------------------------

PROFILE, SESSION, REPORT, RECORDING = SCOPE_TYPES
SAS, DIRECT = UPLOAD_MODES


def attachment_blob_name(scope_type: str, scope_id: uuid.UUID, attachment_id: uuid.UUID, filename: str) -> str:
    prefix = "profiles" if scope_type == PROFILE else scope_type.lower() + "s"
    return f"{prefix}/{scope_id}/attachments/{attachment_id.hex}/{blob_safe_name(filename)}"


def profile_scope(scope_id: uuid.UUID | None, caller_id: uuid.UUID) -> uuid.UUID:
    """A PROFILE scope is the caller's own space: another profile is 404."""
    if scope_id is not None and scope_id != caller_id:
        raise NotFound("Profile not found")
    return caller_id


def require_scope_id(scope_type: str, scope_id: uuid.UUID | None) -> uuid.UUID:
    if scope_id is None:
        raise ValidationFailed.single("body", "scope_id", f"scope_id is required for {scope_type}", "missing")
    return scope_id


def scope_not_found(scope_type: str) -> NotFound:
    return NotFound(f"{scope_type.title()} not found")


def check_own_attachment(row: R | None, role: str, subject_id: uuid.UUID, *,
                         session_id: uuid.UUID | None = None) -> R:
    """Only the uploader completes, uploads to or deletes an attachment; anything else is 404."""
    if (row is None or row["owner_id"] != subject_id or row["owner_role"] != role or row["status"] == DELETED
            or (session_id is not None and row["session_id"] != session_id)):
        raise NotFound("Attachment not found", code="ATTACHMENT_NOT_FOUND")
    return row


def check_awaiting_upload(row: Mapping[str, Any]) -> None:
    if row["status"] != PENDING:
        raise Conflict("This attachment is already uploaded", code="ALREADY_UPLOADED")


def check_content(content_type: str, head: bytes) -> None:
    """The first bytes are what the declared type says."""
    if not matches_type(content_type, head):
        raise BadRequest(f"File content is not {content_type}", code="CONTENT_TYPE_MISMATCH")


def one_shot_type(declared: str | None, head: bytes) -> str:
    """The type of a one-shot upload: the part's declared type if it is an allowed one (and the
    bytes agree), else what the bytes are (a generic declaration such as application/octet-stream)."""
    normalized = normalize_type(declared)
    if normalized in ATTACHMENT_TYPES:
        check_content(normalized, head)
        return normalized
    sniffed = sniff_type(head, ATTACHMENT_TYPES)
    if sniffed is None:
        raise ValidationFailed.single("body", "file", "Unsupported file type")
    return sniffed


def empty_file() -> ValidationFailed:
    return ValidationFailed.single("body", "file", "The file is empty")


def upload_not_found(url_field: str) -> Conflict:
    return Conflict(f"No uploaded file found: PUT the bytes to {url_field} first", code="UPLOAD_NOT_FOUND")


def attachment_wire(row: Mapping[str, Any]) -> dict[str, Any]:
    """An attachment as the API shows it (REST responses and the session's `message.attachment`)."""
    return {
        "id": row["id"],
        "scope_type": row["scope_type"],
        "scope_id": row["scope_id"],
        "session_id": row["session_id"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size_bytes": row["size_bytes"],
        "upload_mode": row["upload_mode"],
        "status": row["status"],
        "uploader_role": row["owner_role"],
        "uploader_id": row["owner_id"],
        "created_at": row["created_at"],
        "uploaded_at": row["uploaded_at"],
    }


# --- session reports ------------------------------------------------------------------------

def report_blob_name(session_id: uuid.UUID, report_id: uuid.UUID, filename: str, today: dt.date) -> str:
    return f"sessions/{session_id}/reports/{today:%Y/%m/%d}/{report_id.hex[:12]}_{blob_safe_name(filename)}"


def _report_not_found() -> NotFound:
    return NotFound("Report not found", code="REPORT_NOT_FOUND")


def check_own_report(row: R | None, uploader_id: uuid.UUID) -> R:
    """Only the patient who uploaded a report completes it."""
    if row is None or row["uploader_id"] != uploader_id or row["status"] == DELETED:
        raise _report_not_found()
    return row


def check_report_visible(row: R | None, caller_id: uuid.UUID) -> R:
    """Both participants see an uploaded report; a pending one only its uploader."""
    if row is None or row["status"] == DELETED or (row["status"] == PENDING and row["uploader_id"] != caller_id):
        raise _report_not_found()
    return row


def check_report_readable(row: R | None, caller_id: uuid.UUID) -> R:
    row = check_report_visible(row, caller_id)
    if row["status"] == PENDING:
        raise Conflict("The report upload is not complete", code="REPORT_NOT_UPLOADED")
    return row


def check_report_deletable(row: R | None, role: str, caller_id: uuid.UUID) -> R:
    """Soft-deleted by the patient who uploaded it; the doctor gets 403."""
    row = check_report_visible(row, caller_id)
    if row["uploader_id"] != caller_id or role != Role.CLIENT:
        raise Forbidden("Only the patient who uploaded a report can delete it", code="NOT_REPORT_OWNER")
    return row


# --- recordings -----------------------------------------------------------------------------

def recording_blob_name(session_id: uuid.UUID, recording_id: uuid.UUID) -> str:
    return f"sessions/{session_id}/recordings/{recording_id}.mp4"


def check_recordable(session_status: str) -> None:
    if session_status != ONGOING:
        raise Conflict("Recording needs an ongoing session", code="SESSION_NOT_ONGOING")


def recording_not_found() -> NotFound:
    return NotFound("Recording not found", code="RECORDING_NOT_FOUND")


def check_stoppable(row: Mapping[str, Any]) -> bool:
    """True if a stop must be asked of LiveKit; False if one already was (a repeated stop)."""
    if row["status"] == STOPPING:
        return False
    if row["status"] not in ACTIVE_RECORDING:
        raise Conflict("The recording is not running", code="RECORDING_NOT_ACTIVE")
    if not row["egress_id"]:
        raise Conflict("The recording is still starting; try again shortly", code="RECORDING_STARTING")
    return True


def ended_if_final(values: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    """A report of a final state carries its end time."""
    if values["status"] in FINAL_RECORDING:
        return {**values, "ended_at": now}
    return values


def started_values(reported: dict[str, Any]) -> dict[str, Any]:
    """What a fresh egress's answer changes: it reports STARTING; anything else waits for webhooks."""
    return reported if reported["status"] in ACTIVE_RECORDING else {"status": STARTING}


def stopped_values(reported: dict[str, Any] | None) -> dict[str, Any]:
    """What LiveKit's answer to a stop changes (None: it no longer runs the egress, whose
    egress_ended webhook completes the row)."""
    if reported is not None and reported["status"] in (COMPLETED, FAILED, STOPPING):
        return reported
    return {"status": STOPPING}


def webhook_values(current_status: str, reported: dict[str, Any]) -> dict[str, Any]:
    """A late "active" update does not undo a stop."""
    if current_status == STOPPING and reported["status"] in ACTIVE_RECORDING:
        return {**reported, "status": STOPPING}
    return reported
