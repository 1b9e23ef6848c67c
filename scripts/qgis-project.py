#!/usr/bin/python3
"""Writes the QGIS project of the service: one step from QGIS to the map.

Usage: /usr/bin/python3 scripts/qgis-project.py [BASE_URL] [OUT]
  BASE_URL  the service (default http://127.0.0.1:8080, as `make run` serves)
  OUT       the project file (default data/telecom-gis.qgs)

Layers: vector tiles of districts, fibre routes (and their public presence
cells), data centres, sectors and towers, styled by the service's MapLibre
style (/styles/default.json); and the four collections as OGC API - Features
layers (QGIS `oapif`), for attributes, selection and export. Project CRS
EPSG:3857, extent central Đà Nẵng. Needs Debian's python3-qgis; run under
QT_QPA_PLATFORM=offscreen on a machine without a display.
"""

import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsProject,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsVectorLayer,
    QgsVectorTileLayer,
)


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    out = sys.argv[2] if len(sys.argv) > 2 else "data/telecom-gis.qgs"
    app = QgsApplication([], False)
    app.initQgis()
    p = QgsProject.instance()
    p.setTitle("telecom-gis: Đà Nẵng telecom infrastructure")
    crs = QgsCoordinateReferenceSystem("EPSG:3857")
    p.setCrs(crs)
    style = f"{base}/styles/default.json"
    for tileset, title in [
        ("districts", "Districts (tiles)"),
        ("fibre-routes", "Fibre routes (tiles)"),
        ("data-centres", "Data centres (tiles)"),
        ("sectors", "Sectors (tiles, zoom 13+)"),
        ("towers", "Towers (tiles)"),
    ]:
        template = f"{base}/collections/{tileset}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
        layer = QgsVectorTileLayer(f"type=xyz&url={template}&zmin=0&zmax=16&styleUrl={style}", title)
        if not layer.isValid():
            sys.exit(f"qgis-project: vector tiles {tileset} do not open at {base}")
        p.addMapLayer(layer)
    for collection, title in [
        ("districts", "Districts"),
        ("fibre-routes", "Fibre routes"),
        ("data-centres", "Data centres"),
        ("towers", "Towers"),
    ]:
        uri = f"url='{base}' typename='{collection}' restrictToRequestBBOX='1' pageSize='1000'"
        layer = QgsVectorLayer(uri, title, "oapif")
        if not layer.isValid():
            sys.exit(f"qgis-project: OGC API Features {collection} does not open at {base}")
        p.addMapLayer(layer)
    city = QgsRectangle(12033637.0, 1798933.0, 12058127.0, 1822100.0)
    p.viewSettings().setDefaultViewExtent(QgsReferencedRectangle(city, crs))
    if not p.write(out):
        sys.exit(f"qgis-project: cannot write {out}")
    print(out, flush=True)
    os._exit(0)


if __name__ == "__main__":
    main()
