"""File rules: size limits, allowed types recognised by their first bytes, filename sanitising.

Pure functions; the handlers and storage call these at init (declared values) and again at
complete (what was actually stored).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Iterable

from domain.errors import BadRequest, PayloadTooLarge, ValidationFailed

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
