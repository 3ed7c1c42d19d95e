"""The history PDF of many sessions: the header on every page, no session split across pages, queries
independent of the number of sessions. (Its speed is measured by bench/history_pdf.py, not here.)"""

import io
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pypdf import PdfReader

from billing.ledger import terminal_payment_record
from billing.services import session_price_freeze, tariff_assignment_create
from reporting import history
from reporting.history import HistoryFilters
from reporting.history_pdf import history_pages, history_pdf
from tests.factories import make_charge_point, make_session, make_site, make_tariff

START = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)


def _sessions(world, count: int, *, offset: int = 0) -> list:
    """``count`` sessions of alice's, every other one priced and every fourth paid at a terminal."""
    connector = world.cp_a.connectors.first()
    made = []
    for i in range(offset, offset + count):
        session = make_session(
            connector,
            world.alice_card,
            started_at=START + timedelta(hours=7 * i),
            minutes=30 + i % 90,
            energy_wh=5_000 + i,
        )
        if i % 2 == 0:
            price = session_price_freeze(session=session)
            if i % 4 == 0 and price is not None:
                terminal_payment_record(session=session, amount=price.gross_total, reference=f"T-{session.pk}")
        made.append(session)
    return made


def _pages(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def test_every_page_starts_with_the_header_and_no_session_is_split(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    # a site whose address is too long for its column: its sessions take two lines, which must stay together
    far = make_site(world.org_a, "Långholmen")
    far.street = "Långholmsmurens gränd 17, uppgång C, vid infarten från Västerbron"
    far.save()
    far_connector = make_charge_point(far, "LANGHOLMEN-1").connectors.first()
    sessions = _sessions(world, 130)
    sessions += [
        make_session(far_connector, world.alice_card, started_at=START + timedelta(hours=7 * i + 3), energy_wh=8_000)
        for i in range(0, 130, 3)
    ]
    client.force_login(world.alice)

    response = client.get(reverse("history_export_pdf"))

    assert response.status_code == 200
    pages = _pages(response.content)
    assert len(pages) >= 4
    rows = history.history_rows(history.history_queryset(user=world.alice, filters=HistoryFilters()), now=START)
    layout = history_pages(
        rows, history.history_totals(history.history_queryset(user=world.alice, filters=HistoryFilters()))
    )
    head = layout["head"].splitlines()
    assert head[0].split()[:4] == ["#", "Date", "Start", "End"]
    # the first page starts with the title and the period, then the header; every other page with the header
    first = pages[0].splitlines()
    assert first[0] == "Charging history" and first[4 : 4 + len(head)] == head
    for text in pages[1:]:
        assert text.splitlines()[: len(head)] == head
    # every session's row, all its lines, is on exactly one page; two-line rows included
    blocks = [block for page in layout["pages"] for block in page]
    assert len(blocks) == len(sessions) and sum("\n" in block for block in blocks) == 44
    for session, block in zip(sorted(sessions, key=lambda s: s.started_at, reverse=True), blocks, strict=True):
        assert block.split()[0] == str(session.pk)
        assert sum(block in text for text in pages) == 1, block
    # the totals follow the last row
    assert f"Total: {len(sessions)} sessions" in pages[-1]
    assert pages[-1].index(blocks[-1]) < pages[-1].index("Total:")


def test_the_header_repeats_when_the_totals_need_a_page_of_their_own(world):
    _sessions(world, 90)
    sessions = history.history_queryset(user=world.alice, filters=HistoryFilters())
    rows, totals = history.history_rows(sessions, now=START), history.history_totals(sessions)
    count = next(n for n in range(1, len(rows) + 1) if history_pages(rows[:n], totals)["total_on_new_page"])
    layout = history_pages(rows[:count], totals)

    pages = _pages(history_pdf(rows=rows[:count], totals=totals, context={"filters": HistoryFilters()}))

    assert len(pages) == len(layout["pages"]) + 1
    last = pages[-1].splitlines()
    assert last[: len(layout["head"].splitlines())] == layout["head"].splitlines()
    assert last[len(layout["head"].splitlines())].startswith("Total: 90 sessions")


def test_the_pdf_reads_the_same_number_of_queries_for_10_and_150_sessions(client, world):
    tariff_assignment_create(tariff=make_tariff(world.org_a, energy="4.00"))
    _sessions(world, 10)
    client.force_login(world.alice)
    with CaptureQueriesContext(connection) as few:
        first = client.get(reverse("history_export_pdf"))
    _sessions(world, 140, offset=10)
    with CaptureQueriesContext(connection) as many:
        second = client.get(reverse("history_export_pdf"))

    assert first.status_code == second.status_code == 200
    assert "Total: 10 sessions" in _pages(first.content)[-1] and "Total: 150 sessions" in _pages(second.content)[-1]
    assert len(many.captured_queries) == len(few.captured_queries), [q["sql"][:120] for q in many.captured_queries]


def test_a_history_without_sessions_says_so_under_the_header(client, world):
    client.force_login(world.alice)

    pages = _pages(client.get(reverse("history_export_pdf")).content)

    assert len(pages) == 1
    assert "No sessions match these filters." in pages[0] and "Total: 0 sessions" in pages[0]
    assert pages[0].index("Date") < pages[0].index("No sessions match")
