"""Static files: GOV.UK Frontend's built assets (from node_modules) and the service's own.

``/assets/...`` serves ``node_modules/govuk-frontend/dist/govuk/assets`` (fonts under
``/assets/fonts/``, images under ``/assets/images/``, as the Frontend stylesheet expects) plus
the built stylesheet and script; ``/static/...`` serves ``api/static``. Paths are resolved
inside those folders only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from vbs.errors import NotFound

ROOT = Path(__file__).resolve().parents[2]
GOVUK_DIST = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

# Built files of the Frontend package served beside its assets folder.
GOVUK_BUILT = frozenset(
    {
        "govuk-frontend.min.css",
        "govuk-frontend.min.css.map",
        "govuk-frontend.min.js",
        "govuk-frontend.min.js.map",
    }
)

MEDIA_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".map": "application/json",
    ".json": "application/manifest+json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".csv": "text/csv; charset=utf-8",
}

CACHE = "public, max-age=3600"

router = APIRouter(include_in_schema=False)


def _inside(base: Path, relative: str) -> Path:
    """``base/relative`` if it is a file inside ``base``, else NotFound."""
    target = (base / relative).resolve()
    if not target.is_relative_to(base.resolve()) or not target.is_file():
        raise NotFound("No such file")
    return target


def _file(path: Path) -> FileResponse:
    media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, headers={"Cache-Control": CACHE})


@router.get("/assets/{path:path}")
def govuk_asset(path: str) -> FileResponse:
    if path in GOVUK_BUILT:
        return _file(_inside(GOVUK_DIST, path))
    return _file(_inside(GOVUK_DIST / "assets", path))


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    return _file(_inside(STATIC_DIR, path))
