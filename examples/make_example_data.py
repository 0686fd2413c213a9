"""Regenerate the bundled example data in ``examples/data/`` (texts, images and a small PDF).

The files are committed; this script documents how they were made and rebuilds them exactly:
    python examples/make_example_data.py
Everything here was written for this project (a fictional bicycle maker, "Helio Cycles").
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

DATA = Path(__file__).resolve().parent / "data"

TEXTS = {
    "about.md": """# About Helio Cycles

Helio Cycles builds solar-assisted city bicycles in a small workshop in Porto. Every frame is
welded by hand from recycled aluminium, and every bike carries a thin-film solar panel on its rear
rack that tops up the battery while the bike is parked outside.

The company was founded in 2019 by two former railway engineers who wanted an electric bike that
never needs a wall socket on sunny days. Today a team of fourteen people designs, builds and
services the bikes, and sells them directly to riders in Portugal, Spain and France.
""",
    "warranty.txt": """Helio Cycles warranty

Frames are guaranteed for ten years against cracks and weld failures. Batteries keep at least
80 percent of their capacity for three years or 900 full charge cycles, whichever comes first.
Solar panels, motors and electronics are covered for two years.

The warranty does not cover crash damage, punctures, worn brake pads or chains, or damage caused
by washing the bike with a pressure washer. To make a claim, send the frame number and a photo
of the problem to service@helio-cycles.example.
""",
    "battery-care.txt": """Battery care

Store the battery between 20 and 80 percent charge if the bike will not be ridden for more than
a month. Avoid leaving it in a hot car. The battery management system balances the cells during
the last hour of every full charge, so charge to 100 percent about once a month.

In winter, bring the battery indoors before charging: lithium cells must not be charged below
zero degrees Celsius. The solar panel charge controller stops automatically when the cells are
too cold.
""",
    "faq.md": """# Frequently asked questions

**How far can I ride on one charge?** About 70 km in eco mode and 45 km in boost mode on flat
roads. A sunny day adds up to 12 km of range while the bike is parked.

**Can I take the bike on a train?** Yes. The bike weighs 19 kg and the front wheel has a quick
release, so it fits the bicycle spaces of regional trains.

**Do you ship outside Europe?** Not yet. We ship to Portugal, Spain and France, and we plan to
add Italy next spring.
""",
}


def sales_chart(path: Path) -> None:
    """A bar chart of bikes sold per quarter."""
    img = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(img)
    draw.text((20, 15), "Helio Cycles - bikes sold per quarter (2025)", fill="black")
    values = [120, 180, 260, 210]
    for i, value in enumerate(values):
        x = 80 + i * 130
        draw.rectangle([x, 360 - value, x + 80, 360], fill=(230, 140, 30), outline="black")
        draw.text((x + 25, 365), f"Q{i + 1}", fill="black")
        draw.text((x + 25, 340 - value), str(value), fill="black")
    draw.line([60, 360, 620, 360], fill="black", width=2)
    img.save(path)


def bike_diagram(path: Path) -> None:
    """A line drawing of a bicycle with a solar panel on its rack."""
    img = Image.new("RGB", (600, 360), (245, 248, 255))
    draw = ImageDraw.Draw(img)
    for cx in (150, 450):
        draw.ellipse([cx - 90, 170, cx + 90, 350], outline=(20, 20, 60), width=6)
    draw.line([150, 260, 280, 260, 450, 260], fill=(20, 20, 60), width=6)
    draw.line([280, 260, 230, 150, 390, 150, 450, 260], fill=(20, 20, 60), width=6)
    draw.line([230, 150, 210, 120], fill=(20, 20, 60), width=6)
    draw.rectangle([100, 120, 260, 140], fill=(30, 60, 160), outline="black")
    draw.text((95, 95), "solar panel", fill="black")
    draw.text((250, 20), "Helio City - side view", fill="black")
    img.save(path)


def logo(path: Path) -> None:
    """A sun over a wheel, as JPEG."""
    img = Image.new("RGB", (256, 256), (255, 250, 235))
    draw = ImageDraw.Draw(img)
    draw.ellipse([78, 40, 178, 140], fill=(250, 190, 40))
    for k in range(12):
        draw.line([128, 90, 128 + (k % 2) * 10, 20], fill=(250, 190, 40), width=3)
    draw.ellipse([58, 120, 198, 250], outline=(40, 40, 40), width=8)
    draw.text((95, 180), "HELIO", fill=(40, 40, 40))
    img.save(path, quality=90)


def _pdf_text(lines: list[str], size: int, x: int, y: int, leading: int) -> str:
    escaped = [s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for s in lines]
    body = "".join(f"({s}) Tj T* " for s in escaped)
    return f"BT /F1 {size} Tf {leading} TL {x} {y} Td {body}ET\n"


def spec_sheet(path: Path) -> None:
    """A two-page PDF spec sheet with a text layer and a drawn table, written by hand."""
    page1 = (
        _pdf_text(["Helio City - technical specification"], 20, 60, 770, 24)
        + _pdf_text(
            [
                "Frame: recycled aluminium 6061, sizes S, M and L",
                "Motor: 250 W rear hub motor, 45 Nm torque",
                "Battery: 36 V, 13 Ah (468 Wh), removable",
                "Solar panel: 40 W thin-film on the rear rack",
                "Range: 70 km eco mode, 45 km boost mode",
                "Weight: 19 kg with battery",
            ],
            12,
            60,
            720,
            18,
        )
        + "0.9 0.5 0.1 RG 2 w 50 590 500 160 re S\n"
    )
    page2 = _pdf_text(["Helio City - charging times"], 20, 60, 770, 24) + _pdf_text(
        [
            "Wall charger 0 to 100 percent: 5 hours",
            "Wall charger 20 to 80 percent: 2 hours",
            "Solar panel, full sun, one day: adds about 12 km of range",
            "Solar panel, cloudy day: adds about 3 km of range",
        ],
        12,
        60,
        720,
        18,
    )
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    contents = [
        add(b"<< /Length %d >>\nstream\n" % len(p.encode()) + p.encode() + b"endstream") for p in (page1, page2)
    ]
    pages_id = len(objects) + 3
    page_ids = [
        add(
            b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (pages_id, font, c)
        )
        for c in contents
    ]
    kids = " ".join(f"{p} 0 R" for p in page_ids).encode()
    assert add(b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % len(page_ids)) == pages_id
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, catalog, xref)
    path.write_bytes(bytes(out))


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DATA, help=f"target folder (default {DATA})")
    out: Path = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for name, text in TEXTS.items():
        (out / name).write_text(text, encoding="utf-8")
    images = out / "images"
    images.mkdir(exist_ok=True)
    sales_chart(images / "sales-chart.png")
    bike_diagram(images / "bike-diagram.png")
    logo(images / "logo.jpg")
    spec_sheet(out / "spec-sheet.pdf")
    print(f"wrote example data to {out}")


if __name__ == "__main__":
    main()
