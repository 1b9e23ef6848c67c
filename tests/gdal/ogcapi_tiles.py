"""GDAL's OGC API driver (through pyogrio's bundled GDAL) reads one vector
tile of a collection of a running service, as a GIS user would open it.

Usage: ogcapi_tiles.py BASE_URL COLLECTION Z X Y

Opens ``OGCAPI:BASE_URL/collections/COLLECTION``: GDAL follows the
collection's ``tilesets-vector`` link, the tileset's ``tiling-scheme`` and
``item`` links, and makes one layer per tile matrix ("Zoom level N"). The
extent is given in EPSG:3857 with the driver's MINX/MINY/MAXX/MAXY open
options (just inside tile Z/X/Y, so GDAL fetches that tile only): GDAL takes
the collection's CRS84 bbox as if it were in the tile CRS otherwise.

Prints one JSON object on stdout: the GDAL version, the layer names, the
fields of the zoom level's layer and its features (every attribute, and the
point's EPSG:3857 position).
"""

import json
import struct
import sys

import pyogrio
from pyogrio.raw import read

HALF = 20037508.342789244


def main():
    base, collection, z, x, y = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
    size = 2 * HALF / 2**z
    x0, y1 = -HALF + x * size, HALF - y * size
    inset = size / 4096  # one tile unit inside the tile's edges
    options = {
        "MINX": repr(x0 + inset),
        "MINY": repr(y1 - size + inset),
        "MAXX": repr(x0 + size - inset),
        "MAXY": repr(y1 - inset),
    }
    url = f"OGCAPI:{base}/collections/{collection}"
    layers = [str(name) for name, _ in pyogrio.list_layers(url)]
    layer = f"Zoom level {z}"
    meta, _fids, geoms, fields = read(url, layer=layer, **options)
    names = [str(n) for n in meta["fields"]]
    features = []
    for i, wkb in enumerate(geoms):
        f = {n: (v[i].item() if hasattr(v[i], "item") else v[i]) for n, v in zip(names, fields)}
        if wkb is not None and len(wkb) == 21:  # a WKB point
            order = "<" if wkb[0] == 1 else ">"
            f["_x"], f["_y"] = struct.unpack(order + "dd", bytes(wkb[5:21]))
        features.append(f)
    print(
        json.dumps(
            {
                "gdal": pyogrio.__gdal_version_string__,
                "crs": meta.get("crs"),
                "layers": layers,
                "fields": names,
                "features": features,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
