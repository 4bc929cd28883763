"""`sfidl run` on each example: a real process, ingress over HTTP, egress read back over HTTP.

Requests are the StateFun playground image's: proto3 JSON bodies under ``<typename>+json``,
egress records popped from the egress port (here as ``?envelope=1`` JSON, to see the keys).
"""

from __future__ import annotations

import json
import shutil
import os
import queue
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 30.0


@dataclass(frozen=True)
class Urls:
    """Where a running `sfidl run` listens: ``base`` takes messages, ``egress`` hands out records."""

    base: str
    egress: str

    def __str__(self) -> str:
        return self.base


@contextmanager
def sfidl_run(example: str, tmp_path: Path) -> Iterator[Urls]:
    """Start `sfidl run` on ephemeral ports; yields its URLs; stops it with SIGTERM."""
    folder = ROOT / "examples" / example
    command = [
        sys.executable, "-m", "sfidl", "run", str(folder / f"{example}.sfidl"),
        "--app", f"{example}_app", "-o", str(tmp_path / "gen"), "--port", "0",
        "--egress-port", "0", "--db", str(tmp_path / "local.sqlite"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder)}
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    # A thread drains stderr: no read blocks the test, no full pipe blocks the process.
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stderr = process.stderr

    def drain() -> None:
        for line in stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        seen: list[str] = []
        listening: dict[str, str] = {}
        while len(listening) < 2:
            try:
                line = lines.get(timeout=DEADLINE_S)
            except queue.Empty:
                raise AssertionError(f"sfidl run did not start:\n{''.join(seen)}") from None
            seen.append(line)
            found = re.search(r"(ingress|egress) listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                listening[found.group(1)] = found.group(2)
        yield Urls(listening["ingress"], listening["egress"])
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=DEADLINE_S) == 0
        finally:
            process.kill()


def post(url: str, typename: str, body: dict[str, object]) -> None:
    """A message in proto3 JSON, as a client of the playground image sends it."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": f"application/vnd.type.googleapis.com/{typename}+json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
        assert response.status == 200


def read_egress(urls: Urls, topic: str, count: int) -> list[dict[str, object]]:
    """Pop ``count`` records of ``topic`` as envelopes, waiting for them to be written."""
    records: list[dict[str, object]] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(records) < count:
        assert time.monotonic() < deadline, f"only {records} arrived on {topic}"
        try:
            url = f"{urls.egress}/{topic}?envelope=1"
            with urllib.request.urlopen(url, timeout=DEADLINE_S) as response:
                records.append(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            assert error.code == 404  # nothing yet
            time.sleep(0.05)
    return records


def wait_until_processed(db: Path, count: int) -> None:
    """Wait until the runtime has processed ``count`` messages and has none queued."""
    deadline = time.monotonic() + DEADLINE_S
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        while True:
            [(processed,)] = connection.execute(
                "SELECT COALESCE(MAX(value), 0) FROM counters WHERE name = 'processed'"
            )
            [(queued,)] = connection.execute("SELECT COUNT(*) FROM inbox")
            if processed >= count and queued == 0:
                return
            assert time.monotonic() < deadline, f"{processed} processed, {queued} queued"
            time.sleep(0.05)


def test_greeter(tmp_path: Path) -> None:
    with sfidl_run("greeter", tmp_path) as base:
        for name in ("ada", "ada"):
            post(
                f"{base}/com.example.greeter/greeter/{name}",
                "com.example.greeter.Greet",
                {"name": "Ada"},
            )
        records = read_egress(base, "greetings", 2)
    assert [(r["key"], r["value"]) for r in records] == [
        ("ada", {"name": "Ada", "text": "Hello Ada!", "seen": 1}),
        ("ada", {"name": "Ada", "text": "Welcome back Ada, visit 2.", "seen": 2}),
    ]


def test_shop(tmp_path: Path) -> None:
    shop = "com.example.shop"
    with sfidl_run("shop", tmp_path) as base:
        post(f"{base}/{shop}/inventory/socks", f"{shop}.Restock", {"quantity": 3})
        post(
            f"{base}/{shop}/user_cart/ada", f"{shop}.AddToCart", {"itemId": "socks", "quantity": 2}
        )
        post(
            f"{base}/{shop}/user_cart/ada", f"{shop}.AddToCart", {"itemId": "socks", "quantity": 2}
        )
        # Restock, two adds, two calls and their two replies: then the cart is settled.
        wait_until_processed(tmp_path / "local.sqlite", 7)
        post(f"{base}/{shop}/user_cart/ada", f"{shop}.Checkout", {})
        [receipt] = read_egress(base, "receipts", 1)
    # The second reservation found one sock left and was refused.
    assert receipt["value"] == {"user_id": "ada", "items": {"socks": 2}}


def test_fraud(tmp_path: Path) -> None:
    fraud = "com.example.fraud"
    with sfidl_run("fraud", tmp_path) as base:
        post(f"{base}/{fraud}/merchant_scorer/shady", f"{fraud}.MerchantReport", {"score": 1.0})
        for t in ("t0", "t1", "t2"):
            post(
                f"{base}/{fraud}/fraud_counter/acct", f"{fraud}.ConfirmFraud", {"transactionId": t}
            )
        transaction = {
            "transactionId": "t3",
            "accountId": "acct",
            "merchantId": "shady",
            "amountCents": 90000,
        }
        post(f"{base}/{fraud}/transaction_manager/t3", f"{fraud}.Transaction", transaction)
        [alert] = read_egress(base, "alerts", 1)
    assert alert["key"] == "acct"
    assert alert["value"]["transaction_id"] == "t3"  # type: ignore[index]


def test_billing(tmp_path: Path) -> None:
    billing = "com.example.billing"
    with sfidl_run("billing", tmp_path) as base:
        ada, result = f"{base}/{billing}/subscription/ada", f"{billing}.PaymentResult"
        # A one-second period: the second period is due a second after the first.
        plan = {"plan": "gold", "amountCents": 999, "periodSeconds": 1}
        post(ada, f"{billing}.Subscribe", plan)
        [first] = read_egress(base, "payment-requests", 1)
        post(f"{base}/{billing}/payment/ada.1.1", result, {"approved": True, "reference": "r1"})
        [charged] = read_egress(base, "notifications", 1)
        [second] = read_egress(base, "payment-requests", 1)
        # The cancel waits for the charge in flight (the subscription is exclusive): the
        # declined charge plans a retry, then the cancel stops it.
        post(ada, f"{billing}.Cancel", {"reason": "moving"})
        post(f"{base}/{billing}/payment/ada.2.1", result, {"approved": False, "reason": "card"})
        [cancelled] = read_egress(base, "notifications", 1)
        post(f"{base}/{billing}/payment/nobody", result, {"approved": True, "reference": "r9"})
        [stray] = read_egress(base, "inconsistencies", 1)
        with urllib.request.urlopen(
            f"{base.egress}/payment-requests?all=1", timeout=DEADLINE_S
        ) as r:
            every_request = json.loads(r.read())
    assert (first["key"], second["key"]) == ("ada.1.1", "ada.2.1")
    assert value(first)["user_id"] == "ada"
    assert (charged["key"], value(charged)["kind"]) == ("ada", "NOTIFICATION_KIND_CHARGED")
    assert value(cancelled)["kind"] == "NOTIFICATION_KIND_CANCELLED"
    assert value(cancelled)["text"] == "Your gold subscription is cancelled (moving)."
    assert (stray["key"], value(stray)["problem"]) == ("nobody", "no such payment was requested")
    assert [r["key"] for r in every_request] == ["ada.1.1", "ada.2.1"]


def test_billing_answers_a_payment_deferred_before_a_restart(tmp_path: Path) -> None:
    billing = "com.example.billing"
    plan = {"plan": "gold", "amountCents": 999, "periodSeconds": 3600}
    with sfidl_run("billing", tmp_path) as base:
        post(f"{base}/{billing}/subscription/ada", f"{billing}.Subscribe", plan)
        [request] = read_egress(base, "payment-requests", 1)
    # The payment's deferred reply and the subscription's pending call are in the database.
    with sfidl_run("billing", tmp_path) as base:
        post(
            f"{base}/{billing}/payment/ada.1.1",
            f"{billing}.PaymentResult",
            {"approved": True, "reference": "r1"},
        )
        [charged] = read_egress(base, "notifications", 1)
    assert request["key"] == "ada.1.1"
    assert value(charged)["kind"] == "NOTIFICATION_KIND_CHARGED"
    assert value(charged)["text"] == "gold: 9.99 paid (reference r1)."


def value(record: dict[str, object]) -> dict[str, object]:
    """An egress record's message, as JSON."""
    message = record["value"]
    assert isinstance(message, dict)
    return message


def test_a_batch_run_over_an_ingress_file(tmp_path: Path) -> None:
    folder = ROOT / "examples" / "greeter"
    records = tmp_path / "names.jsonl"
    lines = [
        {"ingress": "names", "key": n, "value": {"name": n.title()}} for n in ("ada", "bob", "ada")
    ]
    records.write_text("".join(json.dumps(line) + "\n" for line in lines))
    command = [
        sys.executable, "-m", "sfidl", "run", str(folder / "greeter.sfidl"), "--app", "greeter_app",
        "-o", str(tmp_path / "gen"), "--db", str(tmp_path / "local.sqlite"), "--port", "0",
        "--egress-port", "0", "--ingress-file", str(records), "--egress-dir", str(tmp_path / "out"),
        "--stop-when-idle", "--idle-horizon", "1min", "--no-stdout",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder)}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    written = [
        json.loads(line) for line in (tmp_path / "out" / "greetings.jsonl").read_text().splitlines()
    ]
    assert sorted((r["key"], r["value"]["seen"]) for r in written) == [
        ("ada", 1),
        ("ada", 2),
        ("bob", 1),
    ]


def test_a_broken_application_module_is_reported_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "broken_app.py").write_text(
        "from greeter_sfidl import Greeter, GreeterApp\n\n\n"
        "class Incomplete(Greeter):\n    pass\n\n\n"
        "app = GreeterApp(greeter=Incomplete())\n"
    )
    command = [
        sys.executable, "-m", "sfidl", "run", str(ROOT / "examples" / "greeter" / "greeter.sfidl"),
        "--app", "broken_app", "-o", str(tmp_path / "gen"), "--db", str(tmp_path / "db.sqlite"),
    ]  # fmt: skip
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=DEADLINE_S
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (
        "importing broken_app failed: TypeError: Can't instantiate abstract class" in result.stderr
    )
    assert "broken_app.py:8" in result.stderr


def readme_session() -> tuple[list[str], str]:
    """The README's curl session against `sfidl run`: its shell lines and the output shown last."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index("sfidl run examples/shop/shop.sfidl") :]
    block = block[: block.index("```")]
    lines = [line for line in block.splitlines()[1:] if line and not line.startswith("#")]
    [expected] = [line[2:] for line in block.splitlines() if line.startswith("# {")]
    return lines, expected


def test_the_readme_curl_session_works_unchanged(tmp_path: Path) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    lines, expected = readme_session()
    *setup, read = lines
    assert read == "curl localhost:8091/receipts"  # the egress, on the playground's own port
    with sfidl_run("shop", tmp_path) as urls:
        # The README's ports are the defaults; this run listens on free ones.
        ports = {"localhost:8090": urls.base, "localhost:8091": urls.egress}
        script = "\n".join(setup)
        for port, url in ports.items():
            script = script.replace(port, url)
        sent = subprocess.run(
            ["bash", "-e", "-c", script], capture_output=True, text=True, timeout=DEADLINE_S
        )
        # Accepted: an empty answer (a refusal would print its reason); stderr has curl's meter.
        assert (sent.returncode, sent.stdout) == (0, ""), sent.stderr
        deadline = time.monotonic() + DEADLINE_S
        while True:  # the receipt is written once the reservation's reply came back
            shown = subprocess.run(
                [curl, "-s", "-i", read.split()[-1].replace("localhost:8091", urls.egress)],
                capture_output=True,
                text=True,
                timeout=DEADLINE_S,
            ).stdout
            head, _, body = shown.partition("\n\n")  # text mode: \r\n read as \n
            assert head.startswith("HTTP/1.1 200 OK")  # always 200, as on the image
            if "\nStatus: 200\n" in head:
                break
            assert "\nStatus: 404\n" in head and body == "", shown  # no receipt yet
            assert time.monotonic() < deadline, "no receipt in time"
            time.sleep(0.05)
    assert body == expected
