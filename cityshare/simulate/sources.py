"""The simulated departments' sources beyond the storefront-order pair, in generation order.

Order matters only where one department's data refers to another's (lots before their occupancy,
planning permits before the illegal-construction leads that cite them, grids before the cases and
elders assigned to them, elders before their sensor alerts).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from cityshare.simulate import dept_apis, dept_cgj, dept_grassroots, dept_planning, dept_sensors
from cityshare.simulate._framework import Output, SimContext

DEPARTMENT_SOURCES: tuple[tuple[str, Callable[[SimContext], Output]], ...] = (
    ("cgj/street_lamp_faults", dept_cgj.street_lamp_faults),
    ("cgj/muck_truck_gps", dept_cgj.muck_truck_gps),
    ("scjgj/kitchen_alerts", dept_apis.kitchen_alerts),
    ("zjw/construction_permits", dept_planning.construction_permits),
    ("zjw/bridge_sensor_readings", dept_sensors.bridge_sensor_readings),
    ("jtj/parking_lots", dept_apis.parking_lots),
    ("jtj/parking_occupancy", dept_sensors.parking_occupancy),
    ("ghzrj/planning_permits", dept_planning.planning_permits),
    ("ghzrj/illegal_construction_reports", dept_planning.illegal_construction_reports),
    ("jd_nanping/grid_workers", partial(dept_grassroots.grid_workers, dept="jd_nanping")),
    ("jd_nanping/street_cases", partial(dept_grassroots.street_cases, dept="jd_nanping")),
    ("jd_lijia/grid_workers", partial(dept_grassroots.grid_workers, dept="jd_lijia")),
    ("jd_lijia/street_cases", partial(dept_grassroots.street_cases, dept="jd_lijia")),
    ("mzj/elderly_living_alone", dept_grassroots.elderly_living_alone),
    ("mzj/elderly_sensor_alerts", dept_sensors.elderly_sensor_alerts),
    ("sdqx/installation_applications", dept_grassroots.installation_applications),
)
