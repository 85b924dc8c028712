"""The static fleet report, rendered by a real headless Chromium: a screenshot and the DOM."""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from banwatch.control.ansible_inventory import InventoryHost
from banwatch.control.policy_source import load_policy_source
from banwatch.fleet.enrolled import load_enrolled
from banwatch.fleet.html import render_page
from banwatch.fleet.ingest import Ingest
from banwatch.fleet.store import FleetStore, LatestReport
from banwatch.fleet.views import FleetHost, exemption_view, fleet_hosts, status_rows
from tests.conftest import EXAMPLE_POLICY
from tests.fleet_reports import DEMO_HOSTS, DEMO_STATES, demo_fleet

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.timezone.utc)
WIDTH, HEIGHT = 1280, 1000
VIOLATION_RED = (0xC6, 0x28, 0x28)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make setup "
                                                              "installs it)")


def page(tmp_path: Path) -> Path:
    source = load_policy_source(EXAMPLE_POLICY, NOW.date())
    fleet = demo_fleet(tmp_path, source, NOW)
    with FleetStore(str(tmp_path / "fleet.db"), create=True) as store:
        Ingest(store, load_enrolled(str(fleet.enrolled)), now=lambda: NOW).run(str(fleet.dropbox))
        hosts = fleet_hosts(store.latest(), {n: InventoryHost(n, set(g)) for n, g in DEMO_HOSTS.items()})
    exemptions, uncovered = exemption_view(source, hosts, now=NOW, stale_after=dt.timedelta(days=1),
                                           expiring_days=14)
    path = tmp_path / "fleet.html"
    path.write_text(render_page(generated_at="2026-11-24T12:00:00Z", store="fleet.db",
                                status=status_rows(hosts, NOW, dt.timedelta(days=1)), exemptions=exemptions,
                                uncovered=uncovered, refused=0))
    return path


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args],
                          capture_output=True, timeout=120, check=True)


class Tables(HTMLParser):
    """Cell texts of every table by id, and the state tiles' counts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.counts: dict[str, int] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._tile: str | None = None
        self._in_b = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table":
            self._table = attributes.get("id") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._table is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "div" and attributes.get("data-state"):
            self._tile = attributes["data-state"]
        elif tag == "b" and self._tile:
            self._in_b = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "b":
            self._in_b = False
        elif tag == "div":
            self._tile = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_b and self._tile:
            self.counts[self._tile] = int(data)


def png_pixels(data: bytes) -> tuple[int, int, set[tuple[int, int, int]]]:
    """(width, height, the set of colours) of an 8-bit RGB(A), non-interlaced PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks, header = 8, b"", b""
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks += body
        offset += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6)
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(chunks), width * channels
    previous, colours = bytearray(stride), set()
    for row in range(height):
        kind, line = raw[row * (stride + 1)], bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                guess = left + up - corner
                best = min((abs(guess - left), 0, left), (abs(guess - up), 1, up), (abs(guess - corner), 2, corner))
                line[i] = (line[i] + best[2]) & 0xFF
        colours.update(tuple(line[i:i + 3]) for i in range(0, stride, channels))
        previous = line
    return width, height, colours


@needs_chromium
def test_the_rendered_page_shows_every_host_state_and_exemption(tmp_path):
    html = page(tmp_path)
    dom = chromium(tmp_path, "--dump-dom", html.as_uri()).stdout.decode()
    parsed = Tables()
    parsed.feed(dom)
    assert parsed.counts == {"violation": 3, "error": 2, "stale": 1, "unreported": 1, "exempt": 1, "compliant": 1}
    hosts = {row[0]: row for row in parsed.tables["hosts"] if row}
    assert {name: row[1] for name, row in hosts.items()} == DEMO_STATES
    assert hosts["lab-ep-05"][7] == "tiktok exempt EX-2026-014 (pid 4242 TikTok)"
    exemptions = {row[0]: row for row in parsed.tables["exemptions"] if row}
    assert exemptions["EX-2026-014"][3] == "lab-ep-05 applied app present"
    assert exemptions["EX-2025-031"][2].startswith("2025-12-31 expired")
    assert sorted(row[1] for row in parsed.tables["uncovered"] if row) == ["lab-ep-01", "lab-ep-03", "lab-ep-06"]

    shot = tmp_path / "fleet.png"
    chromium(tmp_path, f"--screenshot={shot}", html.as_uri())
    width, height, colours = png_pixels(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert VIOLATION_RED in colours  # the styles applied: the violation tile and badges are red


def test_report_data_is_escaped_and_nothing_is_fetched():
    host = "<img src=x onerror=alert(1)>"
    finding = '[{"app":"tiktok","verdict":"violation","exemption":null,"seen":"pid 1 <script>"}]'
    report = LatestReport(host=host, as_of="2026-11-24T12:00:00Z", state="violation",
                          reason="banned app found: tiktok", agent_text="0.1.0", policy_text="v7",
                          findings_text="tiktok violation (pid 1 <script>)", dropped=0, clock_text=None,
                          source="agent", groups_text="general", agent_version="0.1.0", detection=None,
                          policy_version=7,
                          policy_state="valid", policy_rejection=None, exemptions_text="", findings_json=finding,
                          clock_ahead=0)
    (row,) = status_rows([FleetHost(host, report, True)], dt.datetime(2026, 11, 24, 13, tzinfo=dt.timezone.utc),
                         dt.timedelta(days=1))
    html = render_page(generated_at="now", store="s", status=[row], exemptions=None, uncovered=[], refused=0)
    assert "from s</p>" in html  # no refused-files note, not even a placeholder
    assert "<img src=x" not in html and "<script>" not in html and "&lt;script&gt;" in html
    assert "default-src 'none'" in html and "http://" not in html and "https://" not in html
