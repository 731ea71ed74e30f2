"""Examples for the OpenAPI document: the samples of the API reference (allign-api-v2-reference.txt),
completed where the reference abbreviates ("d3af4135-...") so that each one is a valid instance of
its schema (tests/test_openapi.py checks every example against the schema it illustrates)."""
from __future__ import annotations

PATIENT_ID = "644452ac-c508-422f-8910-f0be7a5393d3"
DOCTOR_ID = "d3af4135-fd62-4148-a316-eb94b841f693"
SESSION_ID = "1d0fae55-fb8f-4085-b34c-b598e381b135"
REVIEW_ID = "a6c020eb-5d3c-4b8e-9f0a-2f6f8c1d3e11"
REPORT_ID = "7a4ee7fb-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
ATTACHMENT_ID = "07af53f0-6b1a-4c55-9e3a-8d2f1b0c4e77"
MESSAGE_IDS = ["5b1f0c2e-3d4a-4b6c-8e9f-0a1b2c3d4e5f", "6c2a1d3f-4e5b-4c7d-9f0a-1b2c3d4e5f60"]
DICEBEAR = "https://api.dicebear.com/9.x/avataaars/svg?seed=0e542140&style=circle"

USER = {
    "id": PATIENT_ID, "full_name": "Rahul Sharma", "phone": "+918090839108", "email": None,
    "avatar_url": DICEBEAR, "avatar_source": "system", "member_since": "2025-08-15T10:30:00Z",
    "is_phone_verified": True, "profile_completed": True, "profile_completion": 0.85, "age": 28, "sex": "male",
    "height_cm": 175.0, "weight_kg": 72.5, "bmi": 23.7,
}

DOCTOR = {
    "id": DOCTOR_ID, "full_name": "Dr. Ankit Shah", "slug": "dr-ankit-shah-urology", "speciality_category": "Urology",
    "degrees": ["MBBS", "MS"], "languages": ["English", "Hindi"], "rating": 4.8, "total_reviews": 42,
    "years_experience": 12, "rate_per_minute": 500, "presence_status": "ONLINE", "chat_enabled": True,
    "call_enabled": True, "is_featured": False, "avatar_url": DICEBEAR, "is_favourite": False,
}
DOCTOR_DETAIL = {**DOCTOR, "about_short": "Specialist in kidney stones and prostate care.",
                 "registration_number": "MCI12345", "total_sessions": 197}
DOCTOR_PROFILE_CHANGE = {
    "full_name": "Dr. Ankit Shah", "years_experience": 12, "about_short": "Specialist in...", "degrees": ["MBBS", "MS"],
    "speciality_category": "Urology", "languages": ["English", "Hindi"], "registration_number": "MCI12345",
}

REVIEW_PAGE = {
    "items": [{"id": REVIEW_ID, "rating": 5.0, "comment": "Excellent doctor, very helpful!",
               "patient_name_masked": "User****3d3", "reply_text": None, "replied_at": None,
               "created_at": "2026-02-07T21:56:25Z"}],
    "total": 42, "limit": 10, "offset": 0, "has_more": True,
}

OVERVIEW = {
    "doctor": {"id": DOCTOR_ID, "name": "Dr. Ankit Shah", "full_name": "Dr. Ankit Shah", "slug": "dr-ankit-shah-urology",
               "speciality_category": "Urology", "avatar_url": DICEBEAR, "presence_status": "ONLINE", "rating": 4.8,
               "total_reviews": 42, "total_sessions": 197, "rate_per_minute": 500, "total_earnings": 9850000},
    "availability": {"is_online": True, "presence_status": "ONLINE", "chat_enabled": True, "call_enabled": True},
    "metrics": {"todays_sessions": 6, "ongoing": 0, "pending": 10, "missed": 2},
}

LIVEKIT = {"token": "eyJhbGciOiJIUzI1NiJ9.eyJ2aWRlbyI6eyJyb29tIjoiY24tMWQwZmFlNTUifX0.c2ln",
           "ws_url": "wss://lk.allign.in", "identity": f"patient-{PATIENT_ID}", "expires_in": 3600}
SESSION_CREATE = {"target_doctor_id": DOCTOR_ID, "category": "Urology",
                  "symptoms": ["back pain", "frequent urination"], "medical_history": "Previous kidney stone 2024",
                  "rate_per_minute": 500}
SESSION_CREATED = {
    "session_id": SESSION_ID, "status": "REQUESTED", "doctor_id": DOCTOR_ID, "room_name": f"cn-{SESSION_ID}",
    "rate_per_minute": 500, "expires_at": "2026-02-07T22:30:00Z", "livekit": LIVEKIT,
    "created_at": "2026-02-07T21:56:24Z",
}
PATIENT_PREVIEW = {"user_id": PATIENT_ID, "name": "Rahul", "age": 28, "sex": "male", "initials": "RA",
                   "avatar_url": DICEBEAR}
REQUEST_ITEM = {"session_id": SESSION_ID, "status": "REQUESTED", "requested_at": "2026-02-07T21:56:24Z",
                "expires_at": "2026-02-07T22:30:00Z", "category": "Urology", "symptoms": ["back pain"],
                "patient": PATIENT_PREVIEW}
REQUESTS = {"items": [REQUEST_ITEM], "total": 1}
SESSION_DETAIL = {
    "id": SESSION_ID, "patient_id": PATIENT_ID, "doctor_id": DOCTOR_ID, "status": "ENDED",
    "room_name": f"cn-{SESSION_ID}", "category": "Urology", "symptoms": ["back pain"], "active_treatment": None,
    "medical_history": None, "rate_per_minute": 500, "requested_at": "2026-02-11T19:14:02Z",
    "expires_at": "2026-02-11T19:44:02Z", "started_at": "2026-02-11T19:15:43Z", "ended_at": "2026-02-11T19:52:50Z",
    "ended_by": "doctor", "end_reason": "completed", "duration_seconds": 2227.4, "billed_minutes": 38,
    "billed_amount": 19000, "created_at": "2026-02-11T19:14:02Z",
    "patient": {**PATIENT_PREVIEW, "name": "Test Patient", "initials": "TP"},
}
SESSION_ACCEPTED = {"session_id": SESSION_ID, "status": "ONGOING", "doctor_id": DOCTOR_ID,
                    "room_name": f"cn-{SESSION_ID}", "started_at": "2026-02-07T21:56:24Z",
                    "livekit": {**LIVEKIT, "identity": f"doctor-{DOCTOR_ID}"}}
SESSION_END = {"reason": "completed", "note": None}

MESSAGE_CREATE = {"client_message_id": "f47ac10b-58cc-4372-a567-0e02b2c3d479", "content_type": "text",
                  "content": "Hello doctor, I have a question."}
RECEIPTS = {"message_ids": MESSAGE_IDS}
UPDATED = {"updated": 2}

VIDEO_PERMISSION = {"session_id": SESSION_ID, "video_permission_state": "NOT_ALLOWED",
                    "patient_video_enabled": False, "consent_round": 0}
CALL_CREATE = {"connect_session_id": SESSION_ID, "call_type": "AUDIO"}
CALL_SESSION = {"id": "b4c55a12-7e8f-4a1b-9c2d-3e4f5a6b7c8d", "connect_session_id": SESSION_ID, "call_type": "AUDIO",
                "status": "CONNECTED", "livekit_room_name": f"cn-{SESSION_ID}", "video_permission_state": "NOT_ALLOWED",
                "patient_video_enabled": False, "created_at": "2026-02-07T21:57:02Z"}

DEVICE_REGISTER = {"token": "fcm-registration-token-from-the-app", "platform": "android", "app_version": "2.4.0"}
DEVICE_TOKEN = {"id": "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", "user_id": PATIENT_ID, "role": "client",
                "platform": "android", "app_version": "2.4.0", "is_active": True}

ATTACHMENT_INIT = {"filename": "xray_report.pdf", "content_type": "application/pdf", "size_bytes": 524288,
                   "upload_mode": "SAS"}
GENERAL_ATTACHMENT_INIT = {"scope_type": "SESSION", "scope_id": SESSION_ID, "filename": "report.pdf",
                           "content_type": "application/pdf", "size_bytes": 1048576, "upload_mode": "SAS"}
REPORT_INIT = {"report_id": REPORT_ID,
               "sas_url": "https://allign.blob.core.windows.net/reports/sessions/r.pdf?sv=2024-08-04&sig=c2ln",
               "required_headers": {"x-ms-blob-type": "BlockBlob", "Content-Type": "application/pdf"},
               "container_name": "reports",
               "blob_name": f"sessions/{SESSION_ID}/reports/2026/02/08/0afc7cc_blood_report.pdf", "expires_in": 600}
REPORT_COMPLETE = {"report_id": REPORT_ID, "status": "UPLOADED", "verified_size_bytes": 524288,
                   "verified_mime_type": "application/pdf"}
REPORT_DETAIL = {"report_id": REPORT_ID, "original_filename": "blood_report.pdf", "mime_type": "application/pdf",
                 "size_bytes": 524288, "status": "UPLOADED", "uploader_user_id": PATIENT_ID,
                 "download_url": "https://allign.blob.core.windows.net/reports/r.pdf?sv=2024-08-04&sig=c2ln",
                 "expires_in": 600, "created_at": "2026-02-08T01:12:26Z"}
REPORT_DELETED = {"report_id": REPORT_ID, "status": "DELETED", "deleted_at": "2026-02-08T01:12:27Z"}

PRESCRIPTION_IN = {"medications": [{"name": "Amoxicillin 500mg", "dosage": "1 tablet 3x daily", "duration": "7 days",
                                    "instructions": "Take after meals"}],
                   "notes": "Complete the full course"}
LAB_TESTS_IN = {"recommendations": [{"test_name": "CBC", "priority": "routine", "instructions": "Fasting 8hrs"},
                                    {"test_name": "HbA1c", "priority": "routine"}],
                "notes": "Get done within 1 week"}
PRESCRIPTION_PDF = {"download_url": "https://allign.blob.core.windows.net/prescriptions/p.pdf?sv=2024-08-04&sig=c2ln",
                    "expires_in": 600, "generated_at": "2026-02-08T01:16:50Z"}

REVIEW_IN = {"rating": 5.0, "comment": "Very helpful, explained everything clearly."}
REVIEW_CREATE = {"session_id": SESSION_ID, **REVIEW_IN}
REVIEW = {"id": REVIEW_ID, "connect_session_id": SESSION_ID, "session_id": None, "doctor_id": DOCTOR_ID,
          "rating": 5.0, "comment": "Excellent consultation!", "created_at": "2026-02-07T21:56:25Z"}
REPLY_IN = {"text": "Thank you for your feedback! Happy to help."}
NOTIFICATION = {"sent": True, "devices": 2, "event": "review.reminder"}

SCHEDULE = {"scheduled_date": "2026-02-27", "scheduled_time": "10:30:00", "scheduled_timezone": "Asia/Kolkata"}
FOLLOWUP_CREATE = {"parent_session_id": SESSION_ID, "scheduled_date": "2026-03-15", "scheduled_time": "14:00:00",
                   "scheduled_timezone": "Asia/Kolkata"}
RESPOND = {"action": "reschedule", "proposed_date": "2026-03-20", "proposed_time": "15:00:00"}

USER_OVERVIEW = {"sessions_count": 108, "followups_count": 4, "bmi": 23.7, "doctors_consulted_count": 1}

MEDICINES = [
    {"id": "a16efb82-14a5-4429-92e7-855b009b5e4d", "name": "Amoxyclav 625 Tablet", "form": "tablet", "provider": "1mg"},
    {"id": "48219863-5d68-4667-8221-148a3c96d840", "name": "Amoxyclav 375 Tablet", "form": "tablet", "provider": "1mg"},
]
LAB_TESTS = [
    {"id": "b7c8d9e0-1234-5678-abcd-ef0123456789", "name": "Thyroid Profile, Free", "code": "Z045",
     "provider": "lal_pathlabs"},
    {"id": "c8d9e0f1-2345-6789-abcd-ef0123456789", "name": "Thyroid, Comprehensive Panel", "code": "Z120",
     "provider": "lal_pathlabs"},
]

ORDER_CREATE = {"amount": 50000, "offer_id": None}
OFFER_CREATE = {"title": "Starter Pack", "amount": 500.00, "bonus_amount": 50.00, "valid_from": "2026-02-01",
                "valid_until": "2026-03-01"}
ADJUSTMENT = {"amount": 50000, "reason": "Refund for a dropped call"}
CATEGORY_CREATE = {"name": "Dermatology", "description": "Skin care", "is_active": True}
ARTICLE_CREATE = {"title": "5 Tips for Better Sleep", "excerpt": "Sleep is essential...", "content": "Full article body...",
                  "category": "wellness", "author": "Dr. Smith", "image_url": "https://cdn.allign.in/sleep.jpg"}
EVENT_CREATE = {"title": "Health Awareness Webinar", "description": "Join us for...", "event_date": "2026-03-15T10:00:00Z",
                "event_type": "online", "category": "wellness", "image_url": "https://cdn.allign.in/webinar.jpg"}
