"""Read the tables of a report's HTML page back (helper for the report tests, not a test)."""
from __future__ import annotations

import pandas as pd


def html_tables(text: str) -> list[pd.DataFrame]:
    """Tables of an HTML page as DataFrames (stdlib parser; pandas.read_html needs lxml)."""
    from html.parser import HTMLParser

    class P(HTMLParser):
        def __init__(self):
            super().__init__()
            self.tables, self.row, self.cell = [], None, None

        def handle_starttag(self, tag, attrs):
            if tag == "table":
                self.tables.append([])
            elif tag == "tr":
                self.row = []
            elif tag in ("td", "th"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.row.append(self.cell)
                self.cell = None
            elif tag == "tr":
                self.tables[-1].append(self.row)

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    p = P()
    p.feed(text)
    out = []
    for t in p.tables:
        df = pd.DataFrame(t[1:], columns=t[0])
        out.append(df)
    return out
