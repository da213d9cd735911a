"""Deterministic demo workspace: Alex Wilber's mailbox (about 45 days of mail) and OneDrive."""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from integrations.emulator import sample_files as files
from integrations.emulator.state import Drive, EmulatorState, Person, Spreadsheet, StoredAttachment, StoredMessage

DEMO_USER_NAME = "Alex Wilber"
DEMO_USER_EMAIL = "alex@contoso.com"
DEMO_OWN_DOMAIN = "contoso.com"
DEMO_USER_ID = "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
DEMO_DRIVE_ID = "b!cG9ydGFsLWFsZXgtd2lsYmVyLWRyaXZl"
DEMO_TOKEN = "demo-token"
SECOND_USER_NAME = "Megan Bowen"
SECOND_USER_EMAIL = "megan@contoso.com"
SECOND_USER_ID = "48d31887-5fad-4d73-a9f5-3c356e68a038"

MAILBOX_DAYS = 45
MAX_MESSAGES = 100_000
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

@dataclass(frozen=True)
class AttachmentMaker:
    """A kind of attachment: its file name, and its bytes made from a random source (only when needed)."""

    name: Callable[[Company | None, int], str]
    content: Callable[[random.Random, Company | None, int], bytes]


def _issuer(company: Company | None) -> str:
    return company.name if company else "Contoso"


def _invoice(rng: random.Random, company: Company | None, number: int) -> bytes:
    amount = rng.randrange(1_200, 48_000)
    lines = [f"{_issuer(company)} - Invoice INV-2026-{number:04d}", "Bill to: Contoso Ltd.", f"Amount due: USD {amount:,}.00"]
    return files.pdf_document(lines)


def _contract(rng: random.Random, company: Company | None, number: int) -> bytes:
    lines = [f"Master services agreement between Contoso Ltd. and {_issuer(company)}", f"Reference MSA-{number:03d}"]
    lines += [f"Clause {i}: the parties agree to the terms set out in schedule {i}." for i in range(1, rng.randrange(4, 12))]
    return files.pdf_document(lines)


def _price_list(rng: random.Random, company: Company | None, number: int) -> bytes:
    rows: list[list[str | int | float]] = [["SKU", "Product", "Unit price", "Stock"]]
    for i in range(rng.randrange(5, 30)):
        rows.append([f"SKU-{number:02d}{i:03d}", f"Item {i + 1}", round(rng.uniform(2, 400), 2), rng.randrange(0, 900)])
    return files.xlsx_workbook(rows, "Prices")


def _forecast(rng: random.Random, company: Company | None, number: int) -> bytes:
    rows: list[list[str | int | float]] = [["Month", "Units", "Revenue"]]
    for month in ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"):
        units = rng.randrange(100, 5_000)
        rows.append([month, units, units * rng.randrange(9, 60)])
    return files.xlsx_workbook(rows, "Forecast")


def _meeting_notes(rng: random.Random, company: Company | None, number: int) -> bytes:
    topic = company.name if company else "team"
    paragraphs = [f"Meeting notes - {topic} sync #{number}"]
    paragraphs += [f"Action {i}: follow up on item {rng.randrange(100, 999)}." for i in range(1, rng.randrange(3, 8))]
    return files.docx_document(paragraphs)


def _photo(rng: random.Random, company: Company | None, number: int) -> bytes:
    colour = company.colour if company else (90, 90, 90)
    side = rng.choice((16, 24, 32, 48))
    return files.png_image(side, side, colour)


def _orders(rng: random.Random, company: Company | None, number: int) -> bytes:
    rows: list[list[str | int | float]] = [["Order", "Date", "Quantity", "Total"]]
    for i in range(rng.randrange(4, 40)):
        quantity = rng.randrange(1, 80)
        rows.append([f"PO-{number:02d}{i:03d}", f"2026-{rng.randrange(1, 12):02d}-{rng.randrange(1, 28):02d}", quantity, quantity * 17])
    return files.csv_table(rows)


INVOICE = AttachmentMaker(lambda c, n: f"INV-2026-{n:04d}.pdf", _invoice)
CONTRACT = AttachmentMaker(lambda c, n: f"Contract {_issuer(c)} MSA-{n:03d}.pdf", _contract)
PRICE_LIST = AttachmentMaker(lambda c, n: f"{_issuer(c)} price list {n:02d}.xlsx", _price_list)
FORECAST = AttachmentMaker(lambda c, n: f"Q{n % 4 + 1} forecast.xlsx", _forecast)
MEETING_NOTES = AttachmentMaker(lambda c, n: f"Meeting notes {n:02d}.docx", _meeting_notes)
PHOTO = AttachmentMaker(lambda c, n: f"product-photo-{n:02d}.png", _photo)
ORDERS = AttachmentMaker(lambda c, n: f"orders-{n:02d}.csv", _orders)


# (subject template, attachment makers); {company} and {n} are filled in.
EXTERNAL_TOPICS: tuple[tuple[str, tuple[AttachmentMaker, ...]], ...] = (
    ("Invoice for October deliveries ({company})", (INVOICE,)),
    ("Signed contract and updated price list", (CONTRACT, PRICE_LIST)),
    ("Price list update #{n}", (PRICE_LIST,)),
    ("Product photos for the catalogue", (PHOTO, PHOTO)),
    ("Purchase orders export", (ORDERS,)),
    ("Quarterly forecast and notes", (FORECAST, MEETING_NOTES, INVOICE)),
    ("Follow-up on our call", ()),
    ("Shipping schedule question", ()),
    ("Meeting notes from {company}", (MEETING_NOTES,)),
)
INTERNAL_TOPICS: tuple[tuple[str, tuple[AttachmentMaker, ...]], ...] = (
    ("Team budget draft", (FORECAST,)),
    ("Lunch on Friday?", ()),
    ("Expense report #{n}", (INVOICE,)),
    ("Slides feedback", (MEETING_NOTES,)),
    ("Office photos", (PHOTO,)),
    ("Weekly status", ()),
)


def _graph_id_core(seed: int, index: int) -> str:
    """The random-looking middle of a message's Graph ids, derived from (seed, index)."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest() * 2
    return base64.b64encode(digest[:51]).decode().replace("/", "-").replace("+", "_")


def _received_offset(rng: random.Random, taken: set[int], resolution: int) -> timedelta:
    """A distinct offset (in steps of `resolution` seconds) within the mailbox period, away from the 7/15/30-day boundaries."""
    while True:
        steps = rng.randrange(2 * 3600 // resolution, MAILBOX_DAYS * 86400 // resolution)
        offset = timedelta(seconds=steps * resolution)
        near_boundary = any(abs(offset - timedelta(days=d)) < WINDOW_MARGIN for d in WINDOW_BOUNDARY_DAYS)
        if not near_boundary and steps not in taken:
            taken.add(steps)
            return offset


def _lazy_attachment(
    make: AttachmentMaker, company: Company | None, seed: int, index: int, position: int, received: datetime, attachment_id: str
) -> StoredAttachment:
    """An attachment whose name is known now and whose bytes are made (deterministically) on first use."""
    number = index + position
    name = make.name(company, number)
    return StoredAttachment(
        id=attachment_id,
        name=name,
        content_type=files.content_type_for(name),
        last_modified=received,
        make=lambda: make.content(random.Random(f"{seed}:{index}:{position}"), company, number),
    )


def _first_name(full_name: str) -> str:
    return full_name.split()[0].lower()


def build_demo_workspace(now: datetime, messages: int = 60, seed: int = 7) -> EmulatorState:
    """Alex Wilber's workspace as of `now`: `messages` received mails and a small OneDrive.

    About three in four messages come from the external companies, the rest from contoso.com
    colleagues. The same arguments always give the same workspace.
    """
    if now.tzinfo is None:
        raise ValueError("build_demo_workspace needs a timezone-aware `now`, e.g. datetime.now(UTC)")
    if not 1 <= messages <= MAX_MESSAGES:
        raise ValueError(f"build_demo_workspace: messages must be between 1 and {MAX_MESSAGES}, got {messages}")
    now = now.replace(microsecond=0)
    resolution = 60 if messages <= 20_000 else 1  # minutes keep small mailboxes readable; seconds make room for large ones
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
        received = now - _received_offset(rng, taken, resolution)
        core = _graph_id_core(seed, index)
        message_id = f"AAMkADNlYjE0Mz{core}="
        attachments = [
            _lazy_attachment(make, company, seed, index, position, received, f"AAMkADNlYjE0MzABEgAQ{position}{core}=")
            for position, make in enumerate(makers)
        ]
        subject = subject_template.format(company=company.name if company else "Contoso", n=index)
        is_read = rng.random() < 0.6
        stored.append(
            StoredMessage(
                id=message_id,
                subject=subject,
                sender=sender,
                to=[user],
                received=received,
                body_text=f"Hi Alex,\n\n{subject}.\n\nBest regards,\n{sender.name}",
                conversation_id=f"AAQkADNlYjE0Mz{core}=",
                internet_message_id=f"<{hashlib.md5(message_id.encode()).hexdigest()}@{sender.address.split('@')[1]}>",
                is_read=is_read,
                attachments=attachments,
                labels={"INBOX", "CATEGORY_PERSONAL"} | (set() if is_read else {"UNREAD"}),
            )
        )
    stored.sort(key=lambda m: m.received, reverse=True)
    state = EmulatorState(user, DEMO_USER_ID, stored, _demo_drive(user, now), _demo_spreadsheets())
    second = _second_account(now)
    state.accounts[second.user.address] = second
    return state


def _second_account(now: datetime) -> EmulatorState:
    """Megan Bowen's small workspace: a second demo account that another chat user can connect."""
    user = Person(SECOND_USER_NAME, SECOND_USER_EMAIL)
    subjects = ("Quarterly planning notes", "Northwind Traders contract renewal", "Team offsite agenda")
    senders = (Person("Adele Vance", "adele@contoso.com"), Person("Priya Raman", "priya@northwindtraders.com"),
               Person("Nestor Wilke", "nestor@contoso.com"))
    messages = [
        StoredMessage(id=f"AAMkADMeganMsg{index:04d}=", subject=subject, sender=sender, to=[user],
                      received=now - timedelta(days=index + 1, hours=3), body_text=f"Hi Megan,\n\n{subject}.\n\n{sender.name}",
                      conversation_id=f"AAQkADMeganConv{index:04d}=", internet_message_id=f"<megan-{index}@contoso.com>",
                      is_read=index > 0, labels={"INBOX"} | ({"UNREAD"} if index == 0 else set()))
        for index, (subject, sender) in enumerate(zip(subjects, senders))
    ]
    drive = Drive("b!bWVnYW4tYm93ZW4tZHJpdmU", user, now - timedelta(days=300))
    return EmulatorState(user, SECOND_USER_ID, messages, drive)


DEMO_SPREADSHEET_ID = "1DemoVendorsSheetK9xQ2mB7vL4pT8wZ3nR6cY5hJ0aE"


def _demo_spreadsheets() -> dict[str, Spreadsheet]:
    """One spreadsheet, "Vendors", listing the external companies."""
    rows: list[list[Any]] = [["Company", "Domain", "Contact", "Active"]]
    rows += [[c.name, c.domain, f"{_first_name(c.people[0])}@{c.domain}", True] for c in COMPANIES]
    return {DEMO_SPREADSHEET_ID: Spreadsheet(DEMO_SPREADSHEET_ID, "Vendors", {"Vendors": rows}, {"Vendors": 0})}


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
