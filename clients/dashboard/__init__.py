"""prioscore dashboard: a small read-only web app for the people who act on scores.

Sales reps (the ranked list with names and reasons), customer-success managers (the
at-risk view, with trends) and support leads (the live feed of tier changes) read the
same gRPC API as every other client; this package never imports the server.

    from prioscore.clients.dashboard import DashboardSettings, serve
    serve(DashboardSettings("127.0.0.1:50051", token=None), "127.0.0.1:8765")

Needs the `dashboard` extra (Starlette, uvicorn, Jinja2); the charting library (uPlot)
is vendored under static/ with its licence, so the pages work offline.
"""

from prioscore.clients.dashboard.app import create_app
from prioscore.clients.dashboard.serving import serve
from prioscore.clients.dashboard.settings import DEFAULT_ADDRESS, DashboardSettings

__all__ = ["DEFAULT_ADDRESS", "DashboardSettings", "create_app", "serve"]
