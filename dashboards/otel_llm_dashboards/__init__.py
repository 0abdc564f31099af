"""otel-llm's Grafana dashboards as code (grafana-foundation-sdk, Grafana 11.6 build).

Each module builds one dashboard, one small function per panel; `common` holds what they share.
`render()` turns a dashboard into the JSON that dashboards/generate.py writes to dashboards/json/.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from grafana_foundation_sdk.builders.dashboard import Dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from . import cost, models, overview, privacy, quality, reliability

# uid -> builder; the uid is also the file name in dashboards/json/.
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    overview.UID: overview.dashboard,
    cost.UID: cost.dashboard,
    quality.UID: quality.dashboard,
    privacy.UID: privacy.dashboard,
    reliability.UID: reliability.dashboard,
    models.UID: models.dashboard,
}


def render(builder: Dashboard) -> str:
    """The dashboard's JSON, stable from run to run: panel ids and query refIds are numbered in
    order, keys are sorted."""
    model = builder.build()
    for number, panel in enumerate(model.panels or [], start=1):
        panel.id_val = number
        for index, target in enumerate(getattr(panel, "targets", None) or []):
            target.ref_id = chr(ord("A") + index)
    return json.dumps(model, cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
