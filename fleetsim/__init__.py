"""fleetsim: virtual intrusion-alarm panels that speak hawkBit DDI over real HTTP.

A device, not a part of the server: it never imports Django or the project's apps, only the
pure archive library `firmware_updates.swu` (to check what it downloaded). See
docs/fleetsim.md for the API, the fleet file and the command line.
"""

from .fleet import Fleet
from .link import PRESETS, LinkProfile
from .panel import Panel
from .spec import Arming, Faults, PanelSpec, PowerSupply, dump_fleet, load_fleet, parse_fleet
from .state import Phase, settings_digest

__all__ = ["PRESETS", "Arming", "Faults", "Fleet", "LinkProfile", "Panel", "PanelSpec", "Phase", "PowerSupply",
           "dump_fleet", "load_fleet", "parse_fleet", "settings_digest"]
