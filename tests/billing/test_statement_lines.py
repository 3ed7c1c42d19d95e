"""The statement's tables set as aligned text lines (billing.statement_pdf.text_table)."""

from billing.statement_pdf import Column, text_table


def test_columns_line_up_figures_right_and_the_flexible_column_fills_the_line():
    table = text_table(
        [Column("Date"), Column("Station", flexible=True), Column("Price", right=True)],
        [["2026-03-02", "ALPHA-1 #1", "40.00 SEK"], ["2026-03-15", "B #2", "120.00 SEK"]],
        total=["Total", "", "160.00 SEK"],
        width=40,
    )

    assert table["head"] == "Date        Station                Price"
    assert table["lines"] == ["2026-03-02  ALPHA-1 #1         40.00 SEK", "2026-03-15  B #2              120.00 SEK"]
    assert table["total"] == "Total                         160.00 SEK"
    assert {len(line) for line in [table["head"], *table["lines"], table["total"]]} == {40}


def test_a_full_line_wraps_the_widest_flexible_text_and_cuts_nothing():
    paid = "Card at the station's payment terminal (T-000042)"
    table = text_table(
        [Column("Station", flexible=True), Column("Price", right=True), Column("Paid", flexible=True)],
        [["ALPHA-1 #1 · Alpha Depot", "80.00 SEK", paid]],
        width=60,
    )

    assert all(len(line) == 60 for line in table["lines"])
    assert len(table["lines"]) == 3
    assert " ".join(line[37:].strip() for line in table["lines"]) == paid
    assert table["lines"][0].startswith("ALPHA-1 #1 · Alpha Depot")


def test_columns_without_titles_have_no_head_line():
    table = text_table([Column("", flexible=True), Column("", right=True)], [["Refunds", "0.00 SEK"]], width=30)

    assert table["head"] == "" and table["total"] == ""
    assert table["lines"] == ["Refunds               0.00 SEK"]
