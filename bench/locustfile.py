"""The load testers' kit: simulated patients and doctors on a clinic day (Locust).

    make load                                  # 60 s, 200 users, against a local server it starts
    LOAD_USERS=500 LOAD_TIME=5m make load
    .venv-load/bin/locust -f bench/locustfile.py --host http://api.example:8000   # Locust's web UI

Patients log in by OTP (the server runs with OTP_TEST_PREFIX=+9199 and OTP_TEST_CODE, so every
simulated number logs in with that code and starts with a demo balance), complete their profile,
search doctors and medicines, and now and then consult: create a session with an online doctor, chat
over the session websocket, end it and review it. Doctors (one console per demo doctor account) hold
the request stream, accept what arrives, answer each message and write a prescription.

Besides Locust's per-endpoint figures, two custom entries measure what Locust cannot see by itself:
`SSE session_requested` (from the patient's POST returning to the event on the doctor's stream) and
`WS message.new` (from the patient's send to the frame on the doctor's socket), both in ms.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid

import gevent
import websocket  # websocket-client: blocking, cooperative under Locust's gevent
from locust import HttpUser, between, events, task

API = "/api/v2"
TEST_PREFIX = os.environ.get("OTP_TEST_PREFIX", "+9199")
TEST_CODE = os.environ.get("OTP_TEST_CODE", "246810")
DOCTOR_PASSWORD = os.environ.get("LOAD_DOCTOR_PASSWORD", "AllignDemo@2026")
DOCTOR_EMAILS = os.environ.get("LOAD_DOCTOR_EMAILS", ",".join(
    f"dr.{n}@demo.allign.in" for n in ("ankit", "priya", "rahul", "sneha", "arjun", "kavita", "vikram", "meera"))
).split(",")
SEARCHES = ["ankit", "derma", "priya", "cardio", "gyn", "pediatric", "ortho", "meera", "general", "uro"]
MEDICINES = ["dolo", "amoxyclav", "paracetamol", "azithro", "pan", "cetirizine", "metformin", "crocin"]
SYMPTOMS = [["fever"], ["cough", "cold"], ["back pain"], ["rash"], ["headache"], ["stomach ache"]]

# Session id → when the patient's POST returned (the doctor's stream measures the delivery).
_requested_at: dict[str, float] = {}
# Message client id → when the patient sent it (the doctor's socket measures the delivery).
_sent_at: dict[str, float] = {}
_lock = threading.Lock()
_doctor_slots = iter(range(10**9))


def _delivered(kind: str, name: str, started: float | None) -> None:
    if started is None:
        return
    events.request.fire(request_type=kind, name=name, response_time=(time.perf_counter() - started) * 1000,
                        response_length=0, exception=None, context={})


def _ws_url(host: str, path: str, token: str) -> str:
    return host.replace("http://", "ws://").replace("https://", "wss://") + path + "?access_token=" + token


class Patient(HttpUser):
    weight = 25
    wait_time = between(3, 10)  # reading results, typing the next search

    def on_start(self) -> None:
        self.phone = f"{TEST_PREFIX}{random.randrange(10**7, 10**8)}"
        self.client.post(f"{API}/auth/request-otp", json={"phone": self.phone}, name="/auth/request-otp")
        tokens = self.client.post(f"{API}/auth/verify-otp", json={"phone": self.phone, "code": TEST_CODE},
                                  name="/auth/verify-otp").json()
        self.headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        self.token = tokens["access_token"]
        self.client.patch(f"{API}/users/me", headers=self.headers, name="/users/me [PATCH]",
                          json={"full_name": "Load Patient", "sex": random.choice(["male", "female"]),
                                "age": random.randint(18, 80)})

    @task(6)
    def search_doctors(self) -> None:
        self.client.get(f"{API}/doctors/search", params={"q": random.choice(SEARCHES)}, headers=self.headers,
                        name="/doctors/search")

    @task(6)
    def search_medicines(self) -> None:
        self.client.get(f"{API}/medicines/search", params={"q": random.choice(MEDICINES)}, headers=self.headers,
                        name="/medicines/search")

    @task(3)
    def my_profile_and_wallet(self) -> None:
        self.client.get(f"{API}/users/me", headers=self.headers, name="/users/me")
        self.client.get(f"{API}/wallet", headers=self.headers, name="/wallet")

    @task(1)
    def consult(self) -> None:
        doctors = self.client.get(f"{API}/doctors/search", params={"q": "dr"}, headers=self.headers,
                                  name="/doctors/search").json()
        online = [d for d in doctors if d.get("presence_status") == "online"] or doctors
        if not online:
            return
        doctor = random.choice(online)
        with self.client.post(f"{API}/connect/sessions", headers=self.headers, name="/connect/sessions",
                              json={"target_doctor_id": doctor["id"], "symptoms": random.choice(SYMPTOMS)},
                              catch_response=True) as resp:
            if resp.status_code == 409:  # the doctor is busy with someone else: a real outcome, not a failure
                resp.success()
                return
            if resp.status_code != 201:
                resp.failure(f"{resp.status_code} {resp.text[:200]}")
                return
            session_id = resp.json()["session_id"]
        with _lock:
            _requested_at[session_id] = time.perf_counter()
        if not self._wait_until_ongoing(session_id):
            self.client.post(f"{API}/connect/sessions/{session_id}/end", headers=self.headers,
                             json={"reason": "no answer"}, name="/connect/sessions/{id}/end")
            return
        self._chat(session_id)
        self.client.post(f"{API}/connect/sessions/{session_id}/end", headers=self.headers,
                         json={"reason": "done"}, name="/connect/sessions/{id}/end")
        self.client.post(f"{API}/connect/sessions/{session_id}/review", headers=self.headers,
                         json={"rating": random.choice([4.0, 4.5, 5.0]), "comment": "Helpful"},
                         name="/connect/sessions/{id}/review")

    def _wait_until_ongoing(self, session_id: str, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            detail = self.client.get(f"{API}/connect/sessions/{session_id}", headers=self.headers,
                                     name="/connect/sessions/{id}").json()
            if detail.get("status") == "ONGOING":
                return True
            gevent.sleep(1.0)
        return False

    def _chat(self, session_id: str) -> None:
        ws = websocket.create_connection(_ws_url(self.host, f"{API}/connect/sessions/{session_id}/ws", self.token),
                                         timeout=20)
        try:
            for n in range(random.randint(3, 6)):
                client_id = str(uuid.uuid4())
                with _lock:
                    _sent_at[client_id] = time.perf_counter()
                ws.send(json.dumps({"type": "message.send", "id": n, "data": {
                    "client_message_id": client_id, "content_type": "text", "content": f"symptom detail {n}"}}))
                gevent.sleep(random.uniform(2, 5))  # typing
        finally:
            ws.close()


class Doctor(HttpUser):
    """One console per demo doctor account: holds the request stream, accepts, chats, prescribes."""
    fixed_count = len(DOCTOR_EMAILS)
    wait_time = between(1, 2)

    def on_start(self) -> None:
        email = DOCTOR_EMAILS[next(_doctor_slots) % len(DOCTOR_EMAILS)]
        tokens = self.client.post(f"{API}/auth/doctor/login", json={"email": email, "password": DOCTOR_PASSWORD},
                                  name="/auth/doctor/login").json()
        self.token = tokens["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.pending: list[str] = []
        self.stream = gevent.spawn(self._hold_stream)

    def on_stop(self) -> None:
        self.stream.kill()

    def _hold_stream(self) -> None:
        """The console's SSE stream, reconnecting with Last-Event-ID as a browser's EventSource does."""
        last_id = None
        while True:
            headers = dict(self.headers, **({"Last-Event-ID": last_id} if last_id else {}))
            try:
                with self.client.get(f"{API}/connect/sessions/requests/stream", headers=headers, stream=True,
                                     name="/connect/sessions/requests/stream", timeout=90,
                                     catch_response=True) as resp:
                    event = None
                    for raw in resp.iter_lines(decode_unicode=True):
                        if raw.startswith("id:"):
                            last_id = raw[3:].strip()
                        elif raw.startswith("event:"):
                            event = raw[6:].strip()
                        elif raw.startswith("data:") and event == "session_requested":
                            session_id = json.loads(raw[5:])["session_id"]
                            with _lock:
                                started = _requested_at.pop(session_id, None)
                            _delivered("SSE", "session_requested", started)
                            self.pending.append(session_id)
                        elif raw == "":
                            event = None
            except Exception:  # connection dropped: reconnect like EventSource
                gevent.sleep(1.0)

    @task
    def answer_requests(self) -> None:
        if not self.pending:
            return
        session_id = self.pending.pop(0)
        with self.client.post(f"{API}/connect/sessions/{session_id}/accept", headers=self.headers,
                              name="/connect/sessions/{id}/accept", catch_response=True) as resp:
            if resp.status_code == 409:  # cancelled or expired meanwhile
                resp.success()
                return
        self._consult(session_id)

    def _consult(self, session_id: str) -> None:
        ws = websocket.create_connection(_ws_url(self.host, f"{API}/connect/sessions/{session_id}/ws", self.token),
                                         timeout=30)
        replies = 0
        try:
            while True:
                frame = json.loads(ws.recv())
                if frame["type"] == "message.new" and frame["data"].get("sender_role") == "patient":
                    with _lock:
                        started = _sent_at.pop(frame["data"].get("client_message_id"), None)
                    _delivered("WS", "message.new", started)
                    replies += 1
                    ws.send(json.dumps({"type": "message.send", "id": f"r{replies}", "data": {
                        "client_message_id": str(uuid.uuid4()), "content_type": "text", "content": "Noted."}}))
                elif frame["type"] in ("session.ended", "session_ended"):
                    break
        except (websocket.WebSocketException, OSError):
            pass  # the patient ended the session and the server closed the socket
        finally:
            ws.close()
        self.client.post(f"{API}/connect/sessions/{session_id}/prescription", headers=self.headers,
                         name="/connect/sessions/{id}/prescription", json={
                             "medications": [{"name": "Paracetamol 650", "dosage": "1 tablet twice a day",
                                              "duration": "3 days"}],
                             "diagnosis": "Viral fever", "advice": "Rest and fluids"})
