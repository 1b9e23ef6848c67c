#!/usr/bin/python3
"""Headless QGIS reads a running telecom-gis service as a planner would.

Usage: /usr/bin/python3 tests/qgis/read_service.py BASE_URL EXPECTED_JSON PROJECT [PNG]

- loads each collection of EXPECTED_JSON ({"towers": 300, ...}) as an
  OGC API - Features layer (QGIS's `oapif` provider) and checks its feature
  count;
- loads the towers, fibre-routes and districts vector tiles (`vectortile`
  provider, XYZ template of the OGC API - Tiles endpoint) with the service's
  MapLibre style (/styles/default.json);
- renders the city (EPSG:3857, 512 x 512) and checks that the image is not
  blank (enough pixels differ from the background);
- opens the shipped project PROJECT (its data sources rewritten to BASE_URL)
  and checks that every layer in it is valid.

Prints one line per check to stdout and exits 1 when any check fails.
Run with Debian's python3-qgis under QT_QPA_PLATFORM=offscreen.
"""

import json
import os
import sys
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize  # noqa: E402
from qgis.PyQt.QtGui import QColor  # noqa: E402

# Central Đà Nẵng in EPSG:3857 (lon 108.10–108.32, lat 15.95–16.15).
CITY_3857 = (12033637.0, 1798933.0, 12058127.0, 1822100.0)
SHIPPED_BASE = "http://127.0.0.1:8080"


def main():
    base, expected, project = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    png = sys.argv[4] if len(sys.argv) > 4 else None
    app = QgsApplication([], False)
    app.initQgis()
    failures = 0

    def check(ok, what):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        failures += 0 if ok else 1

    features = []
    for collection, count in expected.items():
        uri = f"url='{base}' typename='{collection}' restrictToRequestBBOX='0' pageSize='1000'"
        layer = QgsVectorLayer(uri, collection, "oapif")
        check(layer.isValid(), f"OGC API Features layer {collection} opens")
        if not layer.isValid():
            continue
        got = sum(1 for _ in layer.getFeatures())
        check(got == count, f"{collection}: {got} features read, {count} expected")
        features.append(layer)

    tiles = []
    for tileset in ["districts", "fibre-routes", "towers"]:
        template = f"{base}/collections/{tileset}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
        layer = QgsVectorTileLayer(
            f"type=xyz&url={template}&zmin=0&zmax=16&styleUrl={base}/styles/default.json",
            tileset,
        )
        check(layer.isValid(), f"vector tiles {tileset} open")
        if layer.isValid():
            tiles.append(layer)

    settings = QgsMapSettings()
    settings.setLayers(tiles + features)
    settings.setDestinationCrs(QgsCoordinateReferenceSystem("EPSG:3857"))
    settings.setExtent(QgsRectangle(*CITY_3857))
    settings.setOutputSize(QSize(512, 512))
    background = QColor(255, 255, 255)
    settings.setBackgroundColor(background)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if png:
        image.save(png)
    drawn = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            if image.pixelColor(x, y) != background:
                drawn += 1
    check(drawn > 500, f"the rendered city is not blank ({drawn} of 65536 sampled pixels drawn)")

    with open(project, encoding="utf-8") as f:
        text = f.read().replace(SHIPPED_BASE, base)
    with tempfile.NamedTemporaryFile("w", suffix=".qgs", delete=False, encoding="utf-8") as f:
        f.write(text)
        local = f.name
    p = QgsProject.instance()
    check(p.read(local), f"the shipped project {os.path.basename(project)} opens")
    layers = list(p.mapLayers().values())
    check(len(layers) >= 5, f"the project has {len(layers)} layers")
    for layer in layers:
        check(layer.isValid(), f"project layer '{layer.name()}' is valid")
    os.unlink(local)
    sys.stdout.flush()
    # QGIS may crash while tearing down its providers at exit; the checks
    # are done, so leave without running its destructors.
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()
