"""Deterministic demo workspace: Alex Wilber's mailbox (about 45 days of mail) and OneDrive."""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from integrations.emulator import sample_files as files
from integrations.emulator.state import Drive, EmulatorState, Person, StoredAttachment, StoredMessage

DEMO_USER_NAME = "Alex Wilber"
DEMO_USER_EMAIL = "alex@contoso.com"
DEMO_OWN_DOMAIN = "contoso.com"
DEMO_USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
DEMO_DRIVE_ID = "b!cG9ydGFsLWFsZXgtd2lsYmVyLWRyaXZl"
DEMO_TOKEN = "demo-token"

MAILBOX_DAYS = 45
# Received times keep at least this distance from the day counts tests and demos use as windows.
WINDOW_BOUNDARY_DAYS = (7, 15, 30)
WINDOW_MARGIN = timedelta(hours=6)


@dataclass(frozen=True)
class Company:
    """An external correspondent organisation."""

    name: str
    domain: str
    colour: tuple[int, int, int]
    people: tuple[str, ...]


COMPANIES: tuple[Company, ...] = (
    Company("Fabrikam", "fabrikam.com", (200, 60, 40), ("Lena Fischer", "Tomas Novak")),
    Company("Northwind Traders", "northwindtraders.com", (30, 110, 180), ("Priya Raman", "Ben Carter")),
    Company("Adventure Works", "adventure-works.com", (60, 150, 70), ("Sofia Marquez", "Daniel Kim")),
    Company("Tailspin Toys", "tailspintoys.com", (230, 170, 20), ("Olivia Chen",)),
    Company("Wingtip Toys", "wingtiptoys.com", (120, 60, 170), ("Marcus Webb", "Hana Sato")),
)
COLLEAGUES: tuple[str, ...] = ("Megan Bowen", "Nestor Wilke", "Adele Vance", "Lidia Holloway")

AttachmentMaker = Callable[[random.Random, Company | None, int], tuple[str, bytes]]


def _invoice(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    issuer = company.name if company else "Contoso"
    amount = rng.randrange(1_200, 48_000)
    lines = [f"{issuer} - Invoice INV-2026-{number:04d}", "Bill to: Contoso Ltd.", f"Amount due: USD {amount:,}.00"]
    return f"INV-2026-{number:04d}.pdf", files.pdf_document(lines)


def _contract(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    party = company.name if company else "Contoso"
    lines = [f"Master services agreement between Contoso Ltd. and {party}", f"Reference MSA-{number:03d}"]
    lines += [f"Clause {i}: the parties agree to the terms set out in schedule {i}." for i in range(1, rng.randrange(4, 12))]
    return f"Contract {party} MSA-{number:03d}.pdf", files.pdf_document(lines)


def _price_list(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    rows: list[list[str | int | float]] = [["SKU", "Product", "Unit price", "Stock"]]
    for i in range(rng.randrange(5, 30)):
        rows.append([f"SKU-{number:02d}{i:03d}", f"Item {i + 1}", round(rng.uniform(2, 400), 2), rng.randrange(0, 900)])
    prefix = company.name if company else "Contoso"
    return f"{prefix} price list {number:02d}.xlsx", files.xlsx_workbook(rows, "Prices")


def _forecast(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    rows: list[list[str | int | float]] = [["Month", "Units", "Revenue"]]
    for month in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"):
        units = rng.randrange(100, 5_000)
        rows.append([month, units, units * rng.randrange(9, 60)])
    return f"Q{number % 4 + 1} forecast.xlsx", files.xlsx_workbook(rows, "Forecast")


def _meeting_notes(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    topic = company.name if company else "team"
    paragraphs = [f"Meeting notes - {topic} sync #{number}"]
    paragraphs += [f"Action {i}: follow up on item {rng.randrange(100, 999)}." for i in range(1, rng.randrange(3, 8))]
    return f"Meeting notes {number:02d}.docx", files.docx_document(paragraphs)


def _photo(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    colour = company.colour if company else (90, 90, 90)
    side = rng.choice((16, 24, 32, 48))
    return f"product-photo-{number:02d}.png", files.png_image(side, side, colour)


def _orders(rng: random.Random, company: Company | None, number: int) -> tuple[str, bytes]:
    rows: list[list[str | int | float]] = [["Order", "Date", "Quantity", "Total"]]
    for i in range(rng.randrange(4, 40)):
        quantity = rng.randrange(1, 80)
        rows.append([f"PO-{number:02d}{i:03d}", f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}", quantity, quantity * 17])
    return f"orders-{number:02d}.csv", files.csv_table(rows)


# (subject template, attachment makers); {company} and {n} are filled in.
EXTERNAL_TOPICS: tuple[tuple[str, tuple[AttachmentMaker, ...]], ...] = (
    ("Invoice for October deliveries ({company})", (_invoice,)),
    ("Signed contract and updated price list", (_contract, _price_list)),
    ("Price list update #{n}", (_price_list,)),
    ("Product photos for the catalogue", (_photo, _photo)),
    ("Purchase orders export", (_orders,)),
    ("Quarterly forecast and notes", (_forecast, _meeting_notes, _invoice)),
    ("Follow-up on our call", ()),
    ("Shipping schedule question", ()),
    ("Meeting notes from {company}", (_meeting_notes,)),
)
INTERNAL_TOPICS: tuple[tuple[str, tuple[AttachmentMaker, ...]], ...] = (
    ("Team budget draft", (_forecast,)),
    ("Lunch on Friday?", ()),
    ("Expense report #{n}", (_invoice,)),
    ("Slides feedback", (_meeting_notes,)),
    ("Office photos", (_photo,)),
    ("Weekly status", ()),
)


def _graph_id(prefix: str, *parts: object) -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest() * 2
    return prefix + base64.b64encode(digest[:51]).decode().replace("/", "-").replace("+", "_") + "="


def _received_offset(rng: random.Random, taken: set[int]) -> timedelta:
    """A distinct offset within the mailbox period, away from the 7/15/30-day boundaries."""
    while True:
        minutes = rng.randrange(2 * 60, MAILBOX_DAYS * 24 * 60)
        offset = timedelta(minutes=minutes)
        near_boundary = any(abs(offset - timedelta(days=d)) < WINDOW_MARGIN for d in WINDOW_BOUNDARY_DAYS)
        if not near_boundary and minutes not in taken:
            taken.add(minutes)
            return offset


def _first_name(full_name: str) -> str:
    return full_name.split()[0].lower()


def build_demo_workspace(now: datetime, messages: int = 60, seed: int = 7) -> EmulatorState:
    """Alex Wilber's workspace as of `now`: `messages` received mails and a small OneDrive.

    About three in four messages come from the external companies, the rest from contoso.com
    colleagues. The same arguments always give the same workspace.
    """
    if now.tzinfo is None:
        raise ValueError("build_demo_workspace needs a timezone-aware `now`, e.g. datetime.now(UTC)")
    now = now.replace(microsecond=0)
    rng = random.Random(seed)
    user = Person(DEMO_USER_NAME, DEMO_USER_EMAIL)
    taken: set[int] = set()
    stored: list[StoredMessage] = []
    for index in range(messages):
        internal = rng.random() < 0.25
        company = None if internal else COMPANIES[index % len(COMPANIES)]
        if company is None:
            name = rng.choice(COLLEAGUES)
            sender = Person(name, f"{_first_name(name)}@{DEMO_OWN_DOMAIN}")
            subject_template, makers = rng.choice(INTERNAL_TOPICS)
        else:
            name = rng.choice(company.people)
            sender = Person(name, f"{_first_name(name)}@{company.domain}")
            subject_template, makers = rng.choice(EXTERNAL_TOPICS)
        received = now - _received_offset(rng, taken)
        message_id = _graph_id("AAMkADNlYjE0Mz", seed, index)
        attachments = []
        for position, make in enumerate(makers):
            filename, content = make(rng, company, index + position)
            attachments.append(
                StoredAttachment(
                    id=_graph_id("AAMkADNlYjE0MzABEgAQ", seed, index, position),
                    name=filename,
                    content_type=files.content_type_for(filename),
                    content=content,
                    last_modified=received,
                )
            )
        subject = subject_template.format(company=company.name if company else "Contoso", n=index)
        stored.append(
            StoredMessage(
                id=message_id,
                subject=subject,
                sender=sender,
                to=[user],
                received=received,
                body_text=f"Hi Alex,\n\n{subject}.\n\nBest regards,\n{sender.name}",
                conversation_id=_graph_id("AAQkADNlYjE0Mz", seed, index, "conversation"),
                internet_message_id=f"<{hashlib.md5(message_id.encode()).hexdigest()}@{sender.address.split('@')[1]}>",
                is_read=rng.random() < 0.6,
                attachments=attachments,
            )
        )
    stored.sort(key=lambda m: m.received, reverse=True)
    return EmulatorState(user, DEMO_USER_ID, stored, _demo_drive(user, now))


def _demo_drive(owner: Person, now: datetime) -> Drive:
    created = now - timedelta(days=400)
    drive = Drive(DEMO_DRIVE_ID, owner, created)
    root = drive.node("root")
    documents = drive.create_folder(root, "Documents", "fail", created)
    drive.create_folder(root, "Pictures", "fail", created)
    drive.put_file(
        documents,
        "Budget 2026.xlsx",
        files.xlsx_workbook([["Team", "Budget"], ["Sales", 120000], ["Marketing", 80000]]),
        "fail",
        created,
    )
    drive.put_file(documents, "Onboarding.docx", files.docx_document(["Welcome to Contoso!"]), "fail", created)
    return drive
