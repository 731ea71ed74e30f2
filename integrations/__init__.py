"""Outside services (LiveKit, FCM, SMS, Cashfree), each behind a small interface with a real and a local implementation."""
